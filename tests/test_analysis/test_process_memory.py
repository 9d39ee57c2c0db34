def test_process_peak_rss_runs_in_a_fresh_interpreter():
    from mmattn.analysis.process_memory import process_peak_rss
    out = process_peak_rss('SE(reduction=4)', (1, 16, 8, 8))
    # torch and mmattn are imported before the call: hundreds of MB already.
    assert 50e6 < out['rss_before'] <= out['rss_peak']
