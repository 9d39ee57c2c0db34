"""Peak memory of a whole process running one forward+backward of a module.

The profiler-based peak (:func:`mmattn.analysis.measure.peak_memory`) counts the
tensor bytes PyTorch allocates during a call: exact and repeatable, but blind to
what oneDNN/BLAS allocate outside PyTorch and to the interpreter itself. Targets
such as "below 0.75 GB peak process memory" are about the whole process, so this
runs the call in a fresh interpreter (nothing cached by earlier rows) and reads
the kernel's high-water mark of its resident set (``VmHWM``; ``ru_maxrss``
where there is no /proc), before the
module runs (torch + mmattn imported, module and input built) and after one
call. Linux and macOS only (``resource``).

Run as a script it is that fresh interpreter::

    python -m mmattn.analysis.process_memory "DANetPAM(impl='plain')" 1 256 128 128
"""
import json
import subprocess
import sys
from typing import Any, Dict, Optional, Sequence


def _max_rss_bytes() -> int:
    # Linux: the high-water mark of this address space. ru_maxrss would be wrong
    # here: it survives fork + exec, so a child started by a big benchmark process
    # reports its parent's peak.
    try:
        with open('/proc/self/status') as f:
            for line in f:
                if line.startswith('VmHWM:'):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    import resource
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports KiB, macOS bytes.
    return rss if sys.platform == 'darwin' else rss * 1024


def measure_here(spec_text: str, shape: Sequence[int], backward: bool = True,
                 threads: Optional[int] = None,
                 overrides: Optional[Dict[str, Dict[str, Any]]] = None) -> Dict[str, int]:
    """In this process: build, run once, return the RSS high-water marks in bytes."""
    import torch

    from mmattn.analysis.modules import build_module, parse_spec
    if threads:
        torch.set_num_threads(threads)
    b, c, h, w = shape
    torch.manual_seed(0)
    module = build_module(parse_spec(spec_text), c, overrides)
    x = torch.randn(b, c, h, w, requires_grad=backward)
    before = _max_rss_bytes()
    if backward:
        module.train()
        module(x).sum().backward()
    else:
        with torch.no_grad():
            module.eval()(x)
    return dict(rss_before=before, rss_peak=_max_rss_bytes())


def process_peak_rss(spec_text: str, shape: Sequence[int], backward: bool = True,
                     threads: Optional[int] = None,
                     overrides: Optional[Dict[str, Dict[str, Any]]] = None,
                     timeout: float = 1800) -> Dict[str, int]:
    """:func:`measure_here` in a fresh interpreter; its two high-water marks in bytes."""
    payload = json.dumps(dict(spec=spec_text, shape=list(shape), backward=backward,
                              threads=threads, overrides=overrides or {}))
    # -c, not -m: mmattn.analysis imports this module, and runpy warns about a rerun.
    code = f'import sys; from {__name__} import main; main(sys.argv[1:])'
    result = subprocess.run([sys.executable, '-c', code, '--json', payload],
                            capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise RuntimeError(f'process memory run of {spec_text} failed: '
                           f'{result.stderr.strip().splitlines()[-1:]}')
    return json.loads(result.stdout.strip().splitlines()[-1])


def main(argv: Optional[Sequence[str]] = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == '--json':
        args = json.loads(argv[1])
        out = measure_here(args['spec'], args['shape'], args['backward'], args['threads'],
                           args['overrides'])
    else:
        spec, *shape = argv
        out = measure_here(spec, [int(s) for s in shape])
    print(json.dumps(out))


if __name__ == '__main__':
    main()
