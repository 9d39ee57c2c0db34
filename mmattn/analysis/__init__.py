"""Cost analysis of attention modules: what ``tools/benchmark.py`` calls."""
