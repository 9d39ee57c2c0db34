"""Attention figures end to end on the toy detectors.

A short training run of the demo config logs the figures of the validation images through
``AttentionVisHook`` into a local backend; ``tools/analysis_tools/visualize_attention.py``
then draws the trained demo detector, and the detector that holds every module. Each time
the numbers behind the figures are compared with the modules' own intermediate tensors,
read by hooks in this test.
"""
import importlib.util
import json
import math
import os
import subprocess
import sys

import mmcv
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mmattn import ASFF, SE, list_attention_modules
from mmattn.datasets import make_toy_coco
from tests.conftest import CONFIG_DIR, REPO_ROOT

pytestmark = pytest.mark.integration

DEMO = CONFIG_DIR / 'demo' / 'retinanet_r18-se_fpn_300i_toy-coco.py'
EVERY = CONFIG_DIR / 'demo' / 'retinanet_r18-every-attention_fpn-asff_300i_toy-coco.py'
SEG = CONFIG_DIR / 'demo' / 'fcn_r18-se-d8-gn_toy-ade-128.py'
TOOL = REPO_ROOT / 'tools' / 'analysis_tools' / 'visualize_attention.py'


@pytest.fixture(scope='module')
def toy(tmp_path_factory):
    """Four training and two validation images of 256 px, and a narrow 128x100 image: the
    test pipeline scales it by 2 to 256x200 and pads it to 256x224 (a multiple of 32), so
    the figures must crop the padding off and keep the aspect."""
    root = tmp_path_factory.mktemp('toy_coco')
    make_toy_coco(str(root), seed=4, num_train=4, num_val=2)
    val = sorted((root / 'val').iterdir())
    narrow = mmcv.imresize(mmcv.imread(str(val[0]))[:, 28:228], (100, 128))
    mmcv.imwrite(narrow, str(root / 'narrow.png'))
    return root


def _load_json(path):
    with open(path) as f:
        return json.load(f)


def _run_tool(argv):
    spec = importlib.util.spec_from_file_location('visualize_attention', TOOL)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    tool.main([str(a) for a in argv])


def _build(config, checkpoint=None):
    from mmattn.visualization import init_model
    model, _ = init_model(str(config), checkpoint)
    return model


def _infer(model, path):
    from mmdet.apis import inference_detector
    return inference_detector(model, str(path))


def _capture(module, pre=False):
    store = []
    if pre:
        handle = module.register_forward_pre_hook(lambda m, args: store.append(args[0]))
    else:
        handle = module.register_forward_hook(lambda m, args, out: store.append(out))
    return store, handle


def _to_image(t, img_hw, input_hw, ori_hw):
    """The test's own crop-and-upsample: the rows and columns that cover the image."""
    h, w = t.shape[-2:]
    rows = math.ceil(h * img_hw[0] / input_hw[0])
    cols = math.ceil(w * img_hw[1] / input_hw[1])
    return F.interpolate(t[..., :rows, :cols].float(), size=ori_hw, mode='bilinear',
                         align_corners=False)


def test_hook_logs_figures_while_training_and_the_tool_draws_the_trained_demo(toy, tmp_path):
    config = tmp_path / 'demo_attention.py'
    data = f'{toy}/'
    config.write_text(
        f'_base_ = {str(DEMO)!r}\n'
        f'train_dataloader = dict(batch_size=2, dataset=dict(data_root={data!r}))\n'
        f'val_dataloader = dict(batch_size=2, dataset=dict(data_root={data!r}))\n'
        'test_dataloader = val_dataloader\n'
        f"val_evaluator = dict(ann_file={data!r} + 'annotations/instances_val.json')\n"
        'test_evaluator = val_evaluator\n'
        'train_cfg = dict(max_iters=2, val_interval=2)\n'
        'default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=2))\n'
        "custom_hooks = [dict(type='AttentionVisHook', interval=1)]\n")
    work_dir = tmp_path / 'work'
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    result = subprocess.run(
        [sys.executable, 'tools/train.py', str(config), '--work-dir', str(work_dir)],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]

    # The hook: one figure per validation image at iteration 2, in the local backend.
    val_images = sorted(p.name for p in (toy / 'val').iterdir())
    (vis_dir, ) = work_dir.glob('*/vis_data/vis_image')
    logged = sorted(p.name for p in vis_dir.iterdir())
    assert logged == [f'attention_{name}_2.png' for name in val_images]
    figure = mmcv.imread(str(vis_dir / logged[0]))
    assert figure.ndim == 3 and min(figure.shape[:2]) > 100

    # The tool on the trained weights, a square and a narrow image.
    checkpoint = work_dir / 'iter_2.pth'
    images = [toy / 'val' / val_images[0], toy / 'narrow.png']
    out = tmp_path / 'figures'
    from mmattn.visualization import visualize_images
    results = visualize_images(str(config), str(checkpoint), [str(p) for p in images],
                               str(out))
    assert (out / 'index.md').read_text().count('![') == 2

    model = _build(config, str(checkpoint))
    se_names = [name for name, m in model.named_modules() if isinstance(m, SE)]
    assert len(se_names) == 6  # two BasicBlocks in each of stages 2-4
    for image_path, r in zip(images, results):
        for key in ('figure', 'numbers', 'panels'):
            assert os.path.isfile(r[key]), r[key]
        summary = _load_json(r['panels'])
        assert sorted(summary['modules']) == sorted(se_names)
        image = mmcv.imread(str(image_path))
        (predictions, ) = [p for p in summary['panels'] if p['title'] == 'predictions']
        assert predictions['image_shape'] == list(image.shape)
        # The numbers behind the bars are the gates each SE computed on this image.
        gates = {name: _capture(model.get_submodule(name).gate) for name in se_names}
        _infer(model, image_path)
        numbers = np.load(r['numbers'])
        for name, (store, handle) in gates.items():
            handle.remove()
            (gate, ) = store
            np.testing.assert_allclose(numbers[f'map/{name}.channel_gate'],
                                       gate.view(1, -1).numpy(), rtol=1e-5, atol=1e-6)


def test_the_demo_with_every_module_holds_every_registered_module():
    from mmengine.config import Config
    cfg = Config.fromfile(str(EVERY))
    named = {p['cfg']['type'] for p in cfg.model.backbone.plugins}
    assert named == set(list_attention_modules()), (
        'add the missing modules to ' + EVERY.name)
    assert [n['type'] for n in cfg.model.neck] == ['FPN', 'ASFF']


def test_tool_draws_every_module_and_its_numbers_are_the_modules_tensors(toy, tmp_path):
    # Random weights, saved once, so that the tool and this test load the same ones.
    torch.manual_seed(0)
    model = _build(EVERY)
    checkpoint = tmp_path / 'random.pth'
    torch.save(dict(state_dict=model.state_dict(), meta=dict(dataset_meta=model.dataset_meta)),
               checkpoint)
    image_path = toy / 'narrow.png'
    out = tmp_path / 'figures'
    _run_tool([EVERY, checkpoint, image_path, '--out-dir', out, '--query', '50,60',
               '--index', 'html'])
    assert 'narrow.png' in (out / 'index.html').read_text()
    summary = _load_json(out / 'narrow.json')
    numbers = np.load(out / 'narrow.npz')

    # Every mmattn module of the model has panels (DualAttention through its PAM and CAM).
    attention_types = tuple(list_attention_modules().values()) + (ASFF, )
    inserted = {name: type(m) for name, m in model.named_modules()
                if isinstance(m, attention_types)}
    assert set(inserted.values()) == set(attention_types)
    shown = summary['modules']
    for name in inserted:
        assert any(s == name or s.startswith(name + '.') for s in shown), name
    # The overlays and the maps drawn on the image have the image's size.
    overlays = [p for p in summary['panels'] if p['style'] == 'overlay']
    assert overlays and all(p['image_shape'] == [128, 100, 3] for p in overlays)
    drawn = [k for k in numbers.files if k.startswith('drawn/')]
    assert drawn and all(numbers[k].shape[1:] == (128, 100) for k in drawn)

    # The model's own tensors, read by hooks here.
    cbam = 'backbone.layer2.0.cbam'
    pam = 'backbone.layer4.0.pam'
    se = 'backbone.layer3.1.se'
    hooks = {
        'spatial': _capture(model.get_submodule(cbam).spatial_gate),
        'pam_input': _capture(model.get_submodule(pam), pre=True),
        'gate': _capture(model.get_submodule(se).gate),
        'asff_inputs': _capture(model.neck[1], pre=True),
    }
    result = _infer(model, image_path)
    for store, handle in hooks.values():
        handle.remove()
    meta = result.metainfo
    assert meta['img_shape'] == (256, 200) and meta['batch_input_shape'] == (256, 224)

    # CBAM's spatial gate: at the map's resolution, and cropped and upsampled.
    (gate, ) = hooks['spatial'][0]
    np.testing.assert_allclose(numbers[f'map/{cbam}.spatial_gate'], gate[0].numpy(),
                               rtol=1e-5, atol=1e-6)
    expected = _to_image(gate, (256, 200), (256, 224), (128, 100))[0]
    np.testing.assert_allclose(numbers[f'drawn/{cbam}.spatial_gate'], expected.numpy(),
                               rtol=1e-5, atol=1e-6)
    # SE's channel gate.
    (gate, ) = hooks['gate'][0]
    np.testing.assert_allclose(numbers[f'map/{se}.channel_gate'], gate.view(1, -1).numpy(),
                               rtol=1e-5, atol=1e-6)
    # DANetPAM: the attention row of the query pixel (50, 60) of the image, from a naive
    # full attention matrix of the module's input.
    (x, ) = hooks['pam_input'][0]
    m = model.get_submodule(pam)
    with torch.no_grad():
        q, k = m.query_conv(x).flatten(2), m.key_conv(x).flatten(2)
        attention = (q.transpose(1, 2) @ k).softmax(-1)  # [1, N, N]
    h, w = x.shape[-2:]
    # Pixel centre (50.5, 60.5), scaled by 2 into the 256x224 input, on the h x w grid.
    row, col = int(60.5 * 2 / 256 * h), int(50.5 * 2 / 224 * w)
    np.testing.assert_allclose(numbers[f'map/{pam}.query_attention'][0, 0],
                               attention[0, row * w + col].view(h, w).numpy(), rtol=1e-4,
                               atol=1e-6)
    # ASFF: its fusion weights for each target level, as return_weights gives them.
    (feats, ) = hooks['asff_inputs'][0]
    with torch.no_grad():
        _, weights = model.neck[1](feats, return_weights=True)
    for level, weight in enumerate(weights):
        np.testing.assert_allclose(numbers[f'map/neck.1.fusion_weights[{level}]'],
                                   weight[0].numpy(), rtol=1e-5, atol=1e-6)


def test_tool_draws_a_segmentor(tmp_path):
    from mmattn.datasets import make_toy_ade20k
    root = tmp_path / 'toy_ade'
    make_toy_ade20k(str(root), seed=1, num_train=1, num_val=1, img_size=96)
    (image_path, ) = (root / 'images' / 'validation').iterdir()
    out = tmp_path / 'figures'
    # The FCN demo with CBAM instead of SE in its stage-4 BasicBlocks, untrained.
    _run_tool([SEG, 'none', image_path, '--out-dir', out, '--cfg-options',
               'model.backbone.plugins.0.cfg.type=CBAM'])
    summary = _load_json(out / f'{image_path.stem}.json')
    assert summary['modules'] == ['backbone.layer4.0.cbam', 'backbone.layer4.1.cbam']
    styles = [p['style'] for p in summary['panels']]
    assert styles == ['image', 'overlay', 'overlay', 'bars']  # predictions first
    assert all(p['image_shape'] == [96, 96, 3] for p in summary['panels'] if 'image_shape' in p)
