"""Build mmcv's wheel with its compiled ops for the torch of this interpreter, once per torch.

Why: mmdet 3.3.0 and mmsegmentation 1.2.2 refuse mmcv >= 2.2, and OpenMMLab publishes
mmcv 2.1.0 wheels only for torch 2.0 and 2.1 with CUDA, so everywhere else (a CPU machine,
a newer torch) mmcv 2.1.0 is compiled from its source package. Three things make that
compile work and keep it short, each a visible step below:

1. **One wheel per torch.** A compiled mmcv works only with the torch it was compiled
   against (another one fails to load with ``undefined symbol``), and pip's wheel cache keys
   wheels by source, not by torch. So the wheel is kept in ``WHEELS/mmcv-<version>/<key>/``,
   the key naming torch's version (CUDA tag included), the Python tag and the kind of ops
   (``cpu``, or ``cuda`` with ``TORCH_CUDA_ARCH_LIST``), and reused only for that key.
2. **The C++ standard torch asks for.** mmcv 2.1.0's ``setup.py`` compiles with
   ``-std=c++17``; torch >= 2.10's headers stop with ``#error C++20 or later compatible
   compiler is required to use ATen``. The standard is read from torch's own headers (the
   ``__cplusplus <`` test of ``ATen/ATen.h``), and ``setup.py``'s flag is raised to it.
3. **torch's headers parsed once, without debug information.** Nearly all of mmcv's 77 CPU
   sources are a few dozen lines behind ``#include <torch/types.h>`` (through mmcv's
   ``pytorch_cpp_helper.hpp``), so parsing torch's headers, and writing their debug
   information (Python's ``CFLAGS`` hold ``-g``), is most of the compile. The patched build
   compiles with ``-g0`` and precompiles ``torch/types.h`` once (a GCC precompiled header,
   made with the exact flags torch's extension builder gives the sources), which every
   source includes first (``-include``). Measured on one source (``pytorch/cpu/nms.cpp``,
   torch 2.14.1, 2 cores): 26.8 s as shipped, 12.8 s with ``-g0``, 3.7 s with ``-g0`` and
   the header (which takes 23 s to make, once). A compiler that cannot use the header
   (``-Winvalid-pch`` says so in the log) compiles the sources as before. Set
   ``MMATTN_MMCV_PCH=0`` to build without the header (``-g0`` stays).

Usage (``tools/setup_env.sh`` runs it)::

    python tools/build_mmcv.py WHEELS [--version 2.1.0] [--record FILE]

It prints the wheel's path last (and writes it to ``--record``). ``MAX_JOBS``, ``FORCE_CUDA``
and ``TORCH_CUDA_ARCH_LIST`` are mmcv's own settings and are passed through.
"""
import argparse
import glob
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import tempfile
import time

_PCH_HEADER = 'mmattn_torch_pch.h'

# Added to mmcv's setup.py: -g0, and the precompiled header of torch's headers, made from
# the exact flags torch's extension builder writes into its ninja file (so GCC accepts it),
# before the first source compiles.
_PATCH = r'''
# --- mmattn: no debug information, torch's headers precompiled once (tools/build_mmcv.py) ---
def _mmattn_precompiled_header():
    import inspect
    import subprocess
    import torch.utils.cpp_extension as cpp_extension
    header = os.path.abspath(os.path.join('mmcv', 'ops', 'csrc', '%(header)s'))
    with open(header, 'w') as f:
        f.write('#pragma once\n#include <torch/types.h>\n')
    original = cpp_extension._write_ninja_file_and_compile_objects
    signature = inspect.signature(original)

    def compile_objects(*args, **kwargs):
        bound = signature.bind(*args, **kwargs)
        cflags = list(bound.arguments.get('cflags') or [])
        post = [f for f in (bound.arguments.get('post_cflags') or [])]
        # the -include of the header itself is what the sources get, not the header
        i = post.index('-include')
        post = post[:i] + post[i + 2:]
        cxx = os.environ.get('CXX', 'c++')
        cmd = [cxx] + cflags + ['-x', 'c++-header', header, '-o', header + '.gch'] + post
        print('mmattn: precompiling torch headers:', ' '.join(cmd), flush=True)
        if subprocess.call(' '.join(cmd), shell=True) != 0:
            print('mmattn: precompiled header failed; compiling without it', flush=True)
            if os.path.exists(header + '.gch'):
                os.remove(header + '.gch')
        return original(*args, **kwargs)

    cpp_extension._write_ninja_file_and_compile_objects = compile_objects
    return ['-include', header, '-Winvalid-pch']


# -g0 last wins over the -g of Python's CFLAGS: no debug information, a third of the time.
_MMATTN_CXX_FLAGS = ['-g0'] + (_mmattn_precompiled_header() if %(pch)s else [])
# --- end mmattn ---
'''


def torch_cxx_standard() -> str:
    """The C++ standard torch's headers require: the ``__cplusplus < N`` test of ATen.h."""
    import torch.utils.cpp_extension as cpp_extension
    years = {201402: 'c++14', 201703: 'c++17', 202002: 'c++20', 202302: 'c++23'}
    for include in cpp_extension.include_paths():
        path = os.path.join(include, 'ATen', 'ATen.h')
        if os.path.exists(path):
            with open(path) as f:
                found = re.findall(r'__cplusplus\s*<\s*(\d{6})L', f.read())
            if found:
                return years.get(int(found[0]), 'c++17')
    return 'c++17'


def wheel_key() -> str:
    """What a compiled mmcv depends on: torch (with its CUDA tag), Python, the kind of ops."""
    import torch
    ops = 'cpu'
    if os.environ.get('FORCE_CUDA') == '1' or torch.cuda.is_available():
        ops = 'cuda-' + re.sub(r'[^0-9A-Za-z.+]+', '_',
                               os.environ.get('TORCH_CUDA_ARCH_LIST', 'default'))
    py = f'cp{sys.version_info[0]}{sys.version_info[1]}'
    return f'torch-{torch.__version__}-{py}-{ops}'


def patch_setup(setup_py: str, standard: str, pch: bool) -> None:
    """Raise the C++ standard of mmcv's setup.py to ``standard``, compile without debug
    information and, with ``pch``, through the precompiled header."""
    with open(setup_py) as f:
        text = f.read()
    if standard != 'c++17':
        # the flags for torch > 1.12.1; the c++14 ones are for older torch and stay
        text, n = re.subn(r'(std[=:])c\+\+17', rf'\g<1>{standard}', text)
        print(f'    setup.py: -std=c++17 raised to -std={standard} in {n} places: torch\'s '
              f'headers require {standard}')
    anchor = 'def get_extensions():'
    if anchor not in text:
        raise SystemExit('build_mmcv: mmcv setup.py has no get_extensions(); cannot patch')
    text = text.replace(anchor, _PATCH % {'header': _PCH_HEADER, 'pch': pch} + '\n\n' + anchor, 1)
    # every C++ compile of the extension gets the flags (last, so -g0 wins)
    text, n = re.subn(r"extra_compile_args\['cxx'\] = \[([^\]]*)\]",
                      r"extra_compile_args['cxx'] = [\1] + _MMATTN_CXX_FLAGS", text)
    if n == 0:
        raise SystemExit('build_mmcv: found no extra_compile_args of setup.py to patch')
    print('    setup.py: compiled with -g0' + (', torch/types.h precompiled once and included '
                                               'first by every source' if pch else ''))
    with open(setup_py, 'w') as f:
        f.write(text)


def download_source(version: str, into: str) -> str:
    cmd = [sys.executable, '-m', 'pip', 'download', '--no-deps', '--no-binary', ':all:',
           '--no-build-isolation', f'mmcv=={version}', '-d', into]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    archive, = glob.glob(os.path.join(into, f'mmcv-{version}.tar.gz'))
    with tarfile.open(archive) as tar:
        tar.extractall(into)
    return os.path.join(into, f'mmcv-{version}')


def build(source: str, out_dir: str, log_path: str) -> str:
    jobs = os.environ.get('MAX_JOBS', str(os.cpu_count()))
    env = dict(os.environ, MMCV_WITH_OPS='1', MAX_JOBS=jobs)
    cmd = [sys.executable, '-m', 'pip', 'wheel', '-v', '--no-build-isolation', '--no-deps',
           source, '-w', out_dir]
    start = time.time()
    with open(log_path, 'w') as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
        while proc.poll() is None:
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                with open(log_path, errors='replace') as f:
                    counts = re.findall(r'^\s*\[(\d+/\d+)\]', f.read(), re.M)
                print(f'    ... {int((time.time() - start) // 60)} min elapsed, compiled '
                      f'{counts[-1] if counts else "0/?"} sources', flush=True)
    if proc.returncode != 0:
        with open(log_path, errors='replace') as f:
            tail = f.read().splitlines()[-40:]
        sys.stderr.write('\n'.join(tail) + '\n')
        raise SystemExit(f'build_mmcv: the build failed; the whole log is {log_path}')
    with open(log_path, errors='replace') as f:
        text = f.read()
    if 'not used because' in text or 'precompiled header failed' in text:
        print('    note: the precompiled header was not used (see the log); built without it')
    wheel, = glob.glob(os.path.join(out_dir, 'mmcv-*.whl'))
    print(f'    built in {(time.time() - start) / 60:.1f} min')
    return wheel


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('wheels', help='the folder that keeps one wheel per torch')
    parser.add_argument('--version', default='2.1.0')
    parser.add_argument('--record', help='write the wheel path into this file')
    parser.add_argument('--log', default=None, help='the compiler log (default: next to '
                        'the wheel)')
    args = parser.parse_args()

    key = wheel_key()
    target = os.path.join(os.path.abspath(args.wheels), f'mmcv-{args.version}', key)
    found = glob.glob(os.path.join(target, 'mmcv-*.whl'))
    if found:
        print(f'    using the mmcv {args.version} wheel built earlier for {key}: {found[0]}')
        wheel = found[0]
    else:
        standard = torch_cxx_standard()
        pch = os.environ.get('MMATTN_MMCV_PCH', '1') != '0' and sys.platform.startswith('linux')
        print(f'    building mmcv {args.version} with its compiled ops for {key}.\n'
              f'    Why: mmdet 3.3.0 and mmsegmentation 1.2.2 refuse mmcv >= 2.2, and there is '
              f'no prebuilt mmcv {args.version} wheel for this torch.\n'
              '    Progress is printed every minute; the wheel is kept for this torch only.')
        os.makedirs(target, exist_ok=True)
        log = args.log or os.path.join(target, 'build.log')
        with tempfile.TemporaryDirectory(prefix='mmattn-mmcv-') as tmp:
            source = download_source(args.version, tmp)
            patch_setup(os.path.join(source, 'setup.py'), standard, pch)
            built = build(source, os.path.join(tmp, 'dist'), log)
            wheel = os.path.join(target, os.path.basename(built))
            shutil.move(built, wheel + '.part')
            os.replace(wheel + '.part', wheel)  # never a half-written wheel in the cache
    if args.record:
        with open(args.record, 'w') as f:
            f.write(wheel + '\n')
    print(wheel)


if __name__ == '__main__':
    sysconfig.get_paths()  # fail early on a broken interpreter
    main()
