#!/usr/bin/env bash
# The GPU-cluster path B of docs/get_started.md, end to end on this machine (`make test` runs it):
#
#   1. an interpreter that holds torch at mmattn's floor and nothing else, as a cluster
#      module or a conda env would (no numpy: torch 2.1 does not require it);
#   2. `make setup TORCH=system PYTHON=<that interpreter>` into a venv of its own, which
#      must pick numpy < 2 by itself (torch 2.1 cannot use numpy 2) and compile or reuse
#      an mmcv for exactly that torch;
#   3. in that venv: the demo trains (20 iterations, then validation), and every registered
#      module, at its paper's position, and ASFF train a detector with one image per device
#      (tests/test_integration/test_one_image_per_device.py).
#
# Path A (the install order of docs/get_started.md, with OpenMMLab's prebuilt mmcv) is what
# `make setup-compat` installs, and `make test-compat` runs the suite there.
#
# Settings: CLUSTER_TORCH (default 2.1.2), CLUSTER_DIR (default .venv-cluster-path).
set -Eeuo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
CLUSTER_TORCH=${CLUSTER_TORCH:-2.1.2}
DIR=${CLUSTER_DIR:-.venv-cluster-path}
INTERP="$DIR-torch"
trap 'rc=$?; echo; echo "cluster path B: FAILED (exit $rc). The error is above." >&2' ERR

echo "==> cluster path B, 1/3: an interpreter with torch $CLUSTER_TORCH only ($INTERP)"
if [[ ! -x "$INTERP/bin/python" ]] || ! "$INTERP/bin/python" -c "import torch, sys; sys.exit(torch.__version__.split('+')[0] != '$CLUSTER_TORCH')" 2>/dev/null; then
    rm -rf "$INTERP"
    python3 -m venv "$INTERP"
    "$INTERP/bin/python" -m pip install -q "torch==$CLUSTER_TORCH" 2>&1 \
        | sed -e '/is ignored: it is neither a file nor a directory/d'
fi
"$INTERP/bin/python" -W ignore -c 'import torch; print("    torch", torch.__version__)'

echo "==> cluster path B, 2/3: make setup TORCH=system PYTHON=$INTERP/bin/python VENV=$DIR"
# A venv made by an earlier run is set up again: the step is the thing tested, and every
# install in it is found in place or in the wheel cache (seconds).
rm -rf "$DIR"
make --no-print-directory setup TORCH=system PYTHON="$INTERP/bin/python" VENV="$DIR"

echo "==> cluster path B, 3/3: the demo trains; every module and ASFF train in a detector"
PY="$DIR/bin/python"
"$PY" tools/make_toy_data.py coco --out-dir "$DIR/data" >/dev/null
work=$(mktemp -d)
"$PY" tools/train.py configs/demo/retinanet_r18-se_fpn_300i_toy-coco.py --work-dir "$work" \
    --cfg-options data_root="$DIR/data/toy_coco/" max_iters=20 train_cfg.max_iters=20 \
    train_cfg.val_interval=20 default_hooks.logger.interval=10 \
    train_dataloader.dataset.data_root="$DIR/data/toy_coco/" \
    val_dataloader.dataset.data_root="$DIR/data/toy_coco/" \
    test_dataloader.dataset.data_root="$DIR/data/toy_coco/" \
    val_evaluator.ann_file="$DIR/data/toy_coco/annotations/instances_val.json" \
    test_evaluator.ann_file="$DIR/data/toy_coco/annotations/instances_val.json" \
    > "$work/train.log" 2>&1 || { tail -n 40 "$work/train.log" >&2; false; }
grep -E 'coco/bbox_mAP:' "$work/train.log" | sed 's/^/    /' | tail -n 2
ls "$work"/iter_20.pth >/dev/null
"$PY" -m pytest -q -p no:cacheprovider tests/test_integration/test_one_image_per_device.py
rm -rf "$work"
echo "cluster path B: done (torch $CLUSTER_TORCH, $("$PY" -c 'import numpy; print("numpy", numpy.__version__)'))"
