#!/usr/bin/env bash
# Creates .venv in the repository and installs the pinned OpenMMLab stack and
# mmattn into it, step by step. Every step first checks whether what it would
# install is already there, so a second run takes seconds.
#
# Settings (environment variables, or `make setup VAR=value`):
#   TORCH=pinned   install torch==2.13.0 (the CPU build on a machine without CUDA)
#   TORCH=system   keep the torch that PYTHON imports (a GPU node's CUDA torch, from a
#                  conda env, a cluster module or another venv): the venv gets a .pth
#                  file pointing at the site-packages that holds it, and mmcv's ops are
#                  compiled against that torch instead of replacing it
#   PYTHON=python3 the interpreter that creates the venv
#   VENV=.venv     where the venv goes
#   MAX_JOBS=N     parallel compile jobs for mmcv (default: number of cores)
set -Eeuo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${VENV:-.venv}
[[ "$VENV" = /* ]] || VENV="$ROOT/$VENV"
PYTHON=${PYTHON:-python3}
TORCH=${TORCH:-pinned}

TORCH_VERSION=2.13.0
MMENGINE_VERSION=0.10.7
MMCV_VERSION=2.1.0
MMDET_VERSION=3.3.0
MMSEG_VERSION=1.2.2
# mmcv 2.1.0's build imports pkg_resources (removed in setuptools 81);
# torch 2.13's extension builder needs setuptools >= 77.
SETUPTOOLS_SPEC='setuptools>=77,<81'

TOTAL=7
CURRENT='start'
trap 'rc=$?; echo; echo "make setup: FAILED at step: ${CURRENT} (exit $rc). The error is above." >&2' ERR

step() {
    CURRENT="$2"
    printf '\n==> [%s/%s] %s\n' "$1" "$TOTAL" "$2"
}

# The machines' pip configuration names a local index that may not exist;
# pip then warns once per package. Drop only those lines, keep everything else.
pip_() {
    "$PY" -m pip "$@" 2>&1 | sed -u -e '/is ignored: it is neither a file nor a directory/d' \
        -e '/^Requirement already satisfied/d'
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
    pinned|system) ;;
    *) echo "make setup: TORCH must be 'pinned' or 'system', got '$TORCH'" >&2; exit 2 ;;
esac

step 1 "virtual environment in $VENV (TORCH=$TORCH)"
MODE_FILE="$VENV/.mmattn-torch-mode"
if [[ -x "$VENV/bin/python" ]]; then
    if [[ -f "$MODE_FILE" && "$(cat "$MODE_FILE")" != "$TORCH" ]]; then
        echo "    $VENV was made with TORCH=$(cat "$MODE_FILE"); remove it (make clean-venv) to switch to TORCH=$TORCH" >&2
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

step 3 "torch ($TORCH)"
if [[ "$TORCH" == pinned ]]; then
    # Pinned exactly: an open range lets pip pick a newer torch with gigabytes of CUDA packages.
    install_pinned torch "$TORCH_VERSION" "torch==$TORCH_VERSION"
else
    # The site-packages that holds PYTHON's torch joins the venv's path through a
    # .pth file (appended after the venv's own site-packages, so the pins below win).
    torch_site=$("$PYTHON" -c 'import os, torch; print(os.path.dirname(os.path.dirname(torch.__file__)))') || {
        echo "    TORCH=system but $PYTHON cannot import torch" >&2; false; }
    venv_site=$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
    echo "$torch_site" > "$venv_site/mmattn-system-torch.pth"
    "$PY" -c 'import torch; print("    using torch", torch.__version__, "from", torch.__file__, "| CUDA", torch.version.cuda, "| GPU visible:", torch.cuda.is_available())' || {
        echo "    torch from $torch_site does not import in $VENV (is $PYTHON the same Python version?)" >&2; false; }
fi

step 4 "mmengine $MMENGINE_VERSION"
install_pinned mmengine "$MMENGINE_VERSION" "mmengine==$MMENGINE_VERSION"

step 5 "mmcv $MMCV_VERSION with compiled ops"
if "$PY" -c "import mmcv, sys; from mmcv.ops import nms; sys.exit(mmcv.__version__ != '$MMCV_VERSION')" 2>/dev/null; then
    echo "    mmcv $MMCV_VERSION with ops already installed"
else
    torch_v=$("$PY" -c 'import torch; print(torch.__version__)')
    cache_args=()
    cache_note="pip keeps the built wheel in its cache, so later set-ups on this machine take seconds."
    if [[ "$TORCH" == system ]]; then
        # A cached wheel was compiled against whichever torch built it: with a
        # torch of the user's own, compile afresh.
        cache_args+=(--no-cache-dir)
        cache_note="Not cached: the wheel fits only this torch ($torch_v)."
    fi
    py_tag=$("$PY" -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')
    if [[ "$TORCH" == pinned ]] && "$PY" -m pip cache list "mmcv-$MMCV_VERSION-$py_tag-*" 2>/dev/null | grep -q "mmcv-$MMCV_VERSION"; then
        echo "    Installing mmcv $MMCV_VERSION from pip's cache: an earlier set-up on this machine compiled it."
    else
        cat <<MSG
    Building mmcv $MMCV_VERSION from source with its compiled ops (MMCV_WITH_OPS=1).
    Why: mmdet $MMDET_VERSION and mmsegmentation $MMSEG_VERSION refuse mmcv >= 2.2, and
    there is no prebuilt mmcv $MMCV_VERSION wheel for torch $torch_v.
    This takes about 15 minutes on 2 cores. Progress is printed every minute;
    the full compiler log goes to $VENV/mmcv-build.log.
    $cache_note
MSG
    fi
    log="$VENV/mmcv-build.log"
    start=$(date +%s)
    (
        MMCV_WITH_OPS=1 MAX_JOBS="${MAX_JOBS:-$(nproc)}" \
            "$PY" -m pip install -v --no-build-isolation "${cache_args[@]}" "mmcv==$MMCV_VERSION" \
            > "$log" 2>&1
    ) &
    pid=$!
    while kill -0 "$pid" 2>/dev/null; do
        for _ in $(seq 60); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 1
        done
        kill -0 "$pid" 2>/dev/null || break
        done_n=$(grep -oE '^\s*\[[0-9]+/[0-9]+\]' "$log" | tail -1 | tr -d ' []' || true)
        printf '    ... %d min elapsed, compiled %s sources\n' \
            $(( ($(date +%s) - start) / 60 )) "${done_n:-0/?}"
    done
    if ! wait "$pid"; then
        echo "    mmcv build failed; last lines of $log:" >&2
        tail -n 40 "$log" >&2
        false
    fi
    grep -E 'Using cached|Stored in directory|Successfully installed' "$log" | sed 's/^ */    /' || true
    "$PY" -c "import mmcv; from mmcv.ops import nms; print('    mmcv', mmcv.__version__, 'with compiled ops: OK')"
fi

step 6 "mmdet $MMDET_VERSION, mmsegmentation $MMSEG_VERSION (+ ftfy, regex)"
install_pinned mmdet "$MMDET_VERSION" "mmdet==$MMDET_VERSION"
install_pinned mmsegmentation "$MMSEG_VERSION" "mmsegmentation==$MMSEG_VERSION" ftfy regex

step 7 "mmattn (editable) with its test dependencies"
# Reinstalled only when its requirements may have changed (setup.cfg, setup.py)
# or when the venv's mmattn is not this checkout's.
stamp="$VENV/.mmattn-install-hash"
want=$(cat "$ROOT/setup.cfg" "$ROOT/setup.py" | sha256sum | cut -d' ' -f1)
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
    pip_ install --no-build-isolation -e "$ROOT[seg,tests]"
    echo "$want" > "$stamp"
fi
"$PY" - <<'PYEOF'
import mmcv, mmdet, mmengine, mmseg, torch
import mmattn
from mmengine.registry import MODELS
assert MODELS.get('SE') is not None
print(f'    torch {torch.__version__} | mmengine {mmengine.__version__} | mmcv {mmcv.__version__} | '
      f'mmdet {mmdet.__version__} | mmseg {mmseg.__version__} | mmattn {mmattn.__version__}')
PYEOF
CURRENT='done'
echo
echo "make setup: done. Activate with: source ${VENV#$ROOT/}/bin/activate"
