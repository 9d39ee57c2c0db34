"""A real mmdet detector with SE plugins, from a config that inherits an mmdet base."""
import pytest
import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope

from mmattn import SE, IdentityInit
from tests.conftest import CONFIG_DIR, run_fresh_python

pytestmark = pytest.mark.integration

RETINANET_SE = CONFIG_DIR / 'se' / 'retinanet_r50-se_fpn_1x_coco.py'


def _synthetic_batch(shapes=((96, 128), (120, 100)), num_classes=80):
    """Images with a bright rectangle each, and that rectangle as the ground truth."""
    from mmdet.structures import DetDataSample
    from mmengine.structures import InstanceData
    g = torch.Generator().manual_seed(0)
    inputs, samples = [], []
    for i, (h, w) in enumerate(shapes):
        img = torch.randint(0, 60, (3, h, w), generator=g, dtype=torch.uint8)
        x1, y1, x2, y2 = w // 5, h // 4, w // 5 + w // 2, h // 4 + h // 2
        img[:, y1:y2, x1:x2] = 220
        sample = DetDataSample(metainfo=dict(img_shape=(h, w), ori_shape=(h, w),
                                             scale_factor=(1.0, 1.0), img_id=i))
        sample.gt_instances = InstanceData(
            bboxes=torch.tensor([[x1, y1, x2, y2]], dtype=torch.float32),
            labels=torch.tensor([i % num_classes]))
        inputs.append(img)
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)


def _build_detector(cfg):
    from mmdet.registry import MODELS
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    # The base config loads ImageNet weights from the network: start from the
    # config's own initialization instead (Kaiming convs, SE included).
    cfg.model.backbone.init_cfg = None
    # Keep every detection, so prediction runs mmcv's compiled NMS on a full set.
    cfg.model.test_cfg.score_thr = 0.0
    model = MODELS.build(cfg.model)
    model.init_weights()
    return model


def test_config_inherits_mmdet_base_and_places_se():
    cfg = Config.fromfile(RETINANET_SE)
    assert cfg.model.type == 'RetinaNet'
    assert cfg.default_scope == 'mmdet'
    assert cfg.custom_imports == dict(imports=['mmattn'], allow_failed_imports=False)
    model = _build_detector(cfg)
    se = {name: m for name, m in model.named_modules() if isinstance(m, SE)}
    # Stages 2-4 of ResNet-50: 4 + 6 + 3 bottlenecks, one SE after conv3 each, wrapped so that
    # it starts as the identity (the layer keeps SE's name; the SE is its `module`).
    assert len(se) == 13
    assert all(name.endswith('.se.module') for name in se)
    assert not any(name.startswith('backbone.layer1') for name in se)
    wrapper = model.backbone.layer3[5].se
    assert isinstance(wrapper, IdentityInit) and wrapper.scale.item() == 0.0
    assert wrapper.module.in_channels == 1024


def test_retinanet_with_se_trains_one_iteration_and_predicts():
    cfg = Config.fromfile(RETINANET_SE)
    model = _build_detector(cfg)
    # mmdet's ResNet zero-initialises every last BN (zero_init_residual), so the
    # SE inputs are exactly 0 at step 1 and get no gradient; a pretrained
    # backbone has non-zero scales there. Without weight decay, a change of the
    # SE weights can then only come from gradients through the gates.
    for m in model.backbone.modules():
        if hasattr(m, 'norm3'):
            torch.nn.init.constant_(m.norm3.weight, 1.0)
    cfg.optim_wrapper.optimizer.weight_decay = 0.0
    optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    data = _synthetic_batch()
    wrapper = model.backbone.layer4[2].se
    se_weight = wrapper.module.fc1.weight
    before = se_weight.detach().clone()

    model.train()
    for step in (1, 2):
        log_vars = model.train_step(data, optim_wrapper)
        assert {'loss', 'loss_cls', 'loss_bbox'} <= set(log_vars)
        log_vars = {k: torch.as_tensor(v).detach() for k, v in log_vars.items()}
        assert all(torch.isfinite(v).all() for v in log_vars.values())
        assert log_vars['loss'] > 0
        if step == 1:
            # The identity start: the first step moves the scale s, not the SE behind s = 0.
            assert wrapper.scale.item() != 0.0
            assert torch.equal(se_weight.detach(), before)
    # The second SGD step reached the SE layers: gradients flowed through the gates.
    assert not torch.equal(se_weight.detach(), before)

    model.eval()
    with torch.no_grad():
        results = model.test_step(data)
    assert len(results) == 2
    for result, (h, w) in zip(results, [(96, 128), (120, 100)]):
        pred = result.pred_instances
        assert 0 < len(pred) <= cfg.model.test_cfg.max_per_img
        assert pred.bboxes.shape == (len(pred), 4)
        assert torch.isfinite(pred.bboxes).all()
        assert (pred.bboxes[:, 0::2] <= w).all() and (pred.bboxes[:, 1::2] <= h).all()
        assert ((0 <= pred.labels) & (pred.labels < 80)).all()
        assert torch.all(pred.scores[:-1] >= pred.scores[1:])


def test_config_builds_in_a_fresh_interpreter_through_custom_imports():
    # No `import mmattn`: the config's custom_imports must register SE on its own.
    code = (
        'import sys\n'
        'from mmengine.config import Config\n'
        'from mmengine.registry import init_default_scope\n'
        f'cfg = Config.fromfile({str(RETINANET_SE)!r})\n'
        'from mmdet.registry import MODELS\n'
        'init_default_scope("mmdet")\n'
        'backbone = MODELS.build(cfg.model.backbone)\n'
        'n_se = sum(type(m).__name__ == "SE" for m in backbone.modules())\n'
        'print("mmattn" in sys.modules, n_se)\n'
    )
    assert run_fresh_python(code).split() == ['True', '13']
