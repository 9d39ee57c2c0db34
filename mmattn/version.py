__version__ = '0.1.0'


def parse_version_info(version: str) -> tuple:
    """Turn ``'0.1.0'`` into ``(0, 1, 0)`` (non-numeric parts kept as str)."""
    return tuple(int(p) if p.isdigit() else p for p in version.split('.'))


version_info = parse_version_info(__version__)
