#!/usr/bin/env bash
# Creates a venv in the repository and installs one OpenMMLab stack and mmattn into it,
# step by step. Every step first checks whether what it would install is already there,
# so a second run takes seconds. It ends by importing every part of the stack, and fails
# with a sentence (not "done") when one does not import.
#
# Settings (environment variables, or `make setup VAR=value`):
#   TORCH=pinned   the default stack: torch 2.14.1 + torchvision 0.29.1 (the newest mmattn
#                  is tested with; a CUDA build that also runs on a CPU) and timm
#   TORCH=floor    the oldest stack mmattn supports, as GPU clusters run it with OpenMMLab's
#                  prebuilt mmcv wheels: torch 2.1.2 with numpy<2 (`make setup-compat`)
#   TORCH=system   keep the torch that PYTHON imports (a GPU node's CUDA torch, from a
#                  conda env, a cluster module or another venv): the venv gets a .pth
#                  file pointing at the site-packages that holds it, and mmcv's ops are
#                  compiled against that torch instead of replacing it
#   PYTHON=python3 the interpreter that creates the venv
#   VENV=.venv     where the venv goes
#   MAX_JOBS=N     parallel compile jobs for mmcv (default: number of cores)
#   MMATTN_WHEELS  where compiled mmcv wheels are kept, one per torch
#                  (default: ~/.cache/mmattn/wheels)
set -Eeuo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${VENV:-.venv}
[[ "$VENV" = /* ]] || VENV="$ROOT/$VENV"
PYTHON=${PYTHON:-python3}
TORCH=${TORCH:-pinned}
WHEELS=${MMATTN_WHEELS:-${XDG_CACHE_HOME:-$HOME/.cache}/mmattn/wheels}

PINNED_TORCH=2.14.1
PINNED_TORCHVISION=0.29.1
FLOOR_TORCH=2.1.2
MMENGINE_VERSION=0.10.7
MMCV_VERSION=2.1.0
MMDET_VERSION=3.3.0
MMSEG_VERSION=1.2.2
# mmcv 2.1.0's build imports pkg_resources (removed in setuptools 81);
# torch >= 2.13's extension builder needs setuptools >= 77.
SETUPTOOLS_SPEC='setuptools>=77,<81'

TOTAL=8
CURRENT='start'
trap 'rc=$?; echo; echo "make setup: FAILED at step: ${CURRENT} (exit $rc). The error is above." >&2' ERR

step() {
    CURRENT="$2"
    printf '\n==> [%s/%s] %s\n' "$1" "$TOTAL" "$2"
}

# Every pip call of the set-up goes through the venv's constraints file (written at step 3):
# it holds torch at the version step 3 installed or found, and numpy below 2 where that torch
# needs it, so no later package (opencv-python asks for numpy >= 2, timm for any torch)
# replaces them. The machines' pip configuration names a local index that may not exist;
# pip then warns once per package: drop only those lines.
CONSTRAINTS="$VENV/mmattn-constraints.txt"
pip_() {
    local args=()
    [[ -f "$CONSTRAINTS" ]] && args=(-c "$CONSTRAINTS")
    "$PY" -m pip "$@" "${args[@]}" 2>&1 | sed -u -e '/is ignored: it is neither a file nor a directory/d' \
        -e '/^Requirement already satisfied/d'
    return "${PIPESTATUS[0]}"
}

# Prints the installed version of a distribution, or nothing.
installed() {
    "$PY" - "$1" <<'PYEOF'
import sys
from importlib import metadata
try:
    print(metadata.version(sys.argv[1]))
except metadata.PackageNotFoundError:
    pass
PYEOF
}

# install_pinned DIST VERSION [PIP SPEC...]: pip install unless DIST==VERSION is there.
install_pinned() {
    local dist=$1 version=$2
    shift 2
    local have
    have=$(installed "$dist")
    if [[ "${have%%+*}" == "$version" ]]; then
        echo "    $dist $have already installed"
        return 0
    fi
    echo "    installing $* (found: ${have:-none})"
    pip_ install "$@"
    have=$(installed "$dist")
    [[ "${have%%+*}" == "$version" ]] || {
        echo "    expected $dist $version after install, found '${have:-none}'" >&2
        return 1
    }
}

case "$TORCH" in
    pinned|floor|system) ;;
    *) echo "make setup: TORCH must be 'pinned', 'floor' or 'system', got '$TORCH'" >&2; exit 2 ;;
esac

step 1 "virtual environment in $VENV (TORCH=$TORCH)"
MODE_FILE="$VENV/.mmattn-torch-mode"
if [[ -x "$VENV/bin/python" ]]; then
    if [[ -f "$MODE_FILE" && "$(cat "$MODE_FILE")" != "$TORCH" ]]; then
        echo "    $VENV was made with TORCH=$(cat "$MODE_FILE"); remove it (rm -r $VENV) to switch to TORCH=$TORCH" >&2
        false
    fi
    echo "    exists"
else
    "$PYTHON" -m venv "$VENV"
fi
echo "$TORCH" > "$MODE_FILE"
PY="$VENV/bin/python"
"$PY" -c 'import sys; assert sys.version_info >= (3, 8), sys.version' || {
    echo "    mmattn needs Python >= 3.8" >&2; false; }

step 2 "build tools (pip, $SETUPTOOLS_SPEC, wheel, ninja)"
if "$PY" - <<'PYEOF'
from importlib import metadata
def v(name):
    try:
        return tuple(int(p) for p in metadata.version(name).split('.')[:2])
    except Exception:
        return None
ok = (v('pip') or (0,)) >= (23, 1) and (77,) <= (v('setuptools') or (0,)) < (81,)
ok = ok and v('wheel') is not None and v('ninja') is not None
raise SystemExit(0 if ok else 1)
PYEOF
then
    echo "    already installed"
else
    pip_ install --upgrade 'pip>=23.1' "$SETUPTOOLS_SPEC" wheel ninja
fi

step 3 "torch ($TORCH) and a numpy it can use"
rm -f "$CONSTRAINTS"
case "$TORCH" in
    pinned)
        # Pinned exactly: an open range lets pip pick another torch with gigabytes of CUDA packages.
        install_pinned torch "$PINNED_TORCH" "torch==$PINNED_TORCH" "torchvision==$PINNED_TORCHVISION"
        install_pinned torchvision "$PINNED_TORCHVISION" "torch==$PINNED_TORCH" "torchvision==$PINNED_TORCHVISION" ;;
    floor)
        # The order of the cluster path A (docs/get_started.md): torch at the floor, numpy<2 first.
        install_pinned torch "$FLOOR_TORCH" "torch==$FLOOR_TORCH" 'numpy<2' ;;
    system)
        # The site-packages that holds PYTHON's torch joins the venv's path through a
        # .pth file (appended after the venv's own site-packages, so the pins below win).
        torch_site=$("$PYTHON" -c 'import os, torch; print(os.path.dirname(os.path.dirname(torch.__file__)))') || {
            echo "    TORCH=system but $PYTHON cannot import torch" >&2; false; }
        venv_site=$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
        echo "$torch_site" > "$venv_site/mmattn-system-torch.pth" ;;
esac
torch_v=$("$PY" -c 'import torch; print(torch.__version__)' 2>/dev/null) || {
    echo "    torch does not import in $VENV (with TORCH=system: is $PYTHON the same Python version?)" >&2; false; }
echo "torch==$(installed torch)" > "$CONSTRAINTS"   # the distribution's version: 2.1.2, not 2.1.2+cu121
# Whether this torch can use the numpy pip would install (torch 2.1 was built against numpy
# 1.x and cannot use numpy 2: "Failed to initialize NumPy: _ARRAY_API not found"). Found by
# trying, not from the version: a numpy is installed in the venv (the one every later
# package resolves against) and torch is asked to wrap one of its arrays.
numpy_ok() { "$PY" -W ignore -c 'import numpy, torch; torch.from_numpy(numpy.zeros(1))' >/dev/null 2>&1; }
[[ -n "$(installed numpy)" ]] || pip_ install numpy
if ! numpy_ok; then
    echo "    torch $torch_v cannot use numpy $(installed numpy) (it was built against numpy 1.x): installing numpy<2"
    pip_ install 'numpy<2'
    numpy_ok || { echo "    torch $torch_v cannot use numpy $(installed numpy) either" >&2; false; }
fi
if [[ "$(installed numpy)" == 1.* ]]; then
    echo 'numpy<2' >> "$CONSTRAINTS"
fi
"$PY" -W ignore -c 'import numpy, torch; print("    torch", torch.__version__, "from", torch.__file__, "| CUDA", torch.version.cuda, "| GPU visible:", torch.cuda.is_available(), "| numpy", numpy.__version__)'

step 4 "mmengine $MMENGINE_VERSION"
install_pinned mmengine "$MMENGINE_VERSION" "mmengine==$MMENGINE_VERSION"

step 5 "mmcv $MMCV_VERSION with compiled ops, built for torch $torch_v"
"$PY" "$ROOT/tools/build_mmcv.py" "$WHEELS" --version "$MMCV_VERSION" \
    --record "$VENV/.mmattn-mmcv-wheel" --log "$VENV/mmcv-build.log"
wheel=$(cat "$VENV/.mmattn-mmcv-wheel")
if "$PY" -c "import mmcv, sys; from mmcv.ops import nms; sys.exit(mmcv.__version__ != '$MMCV_VERSION')" 2>/dev/null \
        && [[ -f "$VENV/.mmattn-mmcv-installed" && "$(cat "$VENV/.mmattn-mmcv-installed")" == "$wheel" ]]; then
    echo "    mmcv $MMCV_VERSION with ops already installed from $wheel"
else
    pip_ install --force-reinstall --no-deps "$wheel"
    pip_ install "$wheel"   # its dependencies (addict, opencv-python, yapf, ...)
    echo "$wheel" > "$VENV/.mmattn-mmcv-installed"
fi
"$PY" -c "import mmcv; from mmcv.ops import nms; print('    mmcv', mmcv.__version__, 'with compiled ops: OK')"

step 6 "mmdet $MMDET_VERSION, mmsegmentation $MMSEG_VERSION (+ ftfy, regex)"
install_pinned mmdet "$MMDET_VERSION" "mmdet==$MMDET_VERSION"
install_pinned mmsegmentation "$MMSEG_VERSION" "mmsegmentation==$MMSEG_VERSION" ftfy regex

step 7 "mmattn (editable) with its test dependencies"
# Reinstalled only when its requirements may have changed (setup.cfg, setup.py)
# or when the venv's mmattn is not this checkout's. timm and mmpretrain need torchvision:
# only where the stack has it (the pinned one).
extras=seg,tests
if "$PY" -c 'import torchvision' 2>/dev/null; then extras=$extras,timm,cls; fi
stamp="$VENV/.mmattn-install-hash"
want=$( (cat "$ROOT/setup.cfg" "$ROOT/setup.py"; echo "$extras") | sha256sum | cut -d' ' -f1)
here=$("$PY" -I - <<'PYEOF'
import json
from importlib import metadata
try:
    info = json.loads(metadata.distribution('mmattn').read_text('direct_url.json') or '{}')
except metadata.PackageNotFoundError:
    info = {}
if info.get('dir_info', {}).get('editable'):
    print(info['url'][len('file://'):] if info['url'].startswith('file://') else info['url'])
PYEOF
)
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" && "$here" == "$ROOT" ]]; then
    echo "    mmattn installed from $ROOT, requirements unchanged"
else
    pip_ install --no-build-isolation -e "$ROOT[$extras]"
    echo "$want" > "$stamp"
fi

step 8 "check: every part of the stack imports"
"$PY" "$ROOT/tools/check_stack.py"
CURRENT='done'
echo
echo "make setup: done. Activate with: source ${VENV#$ROOT/}/bin/activate"
