"""AttentionBackbone: modules on chosen outputs of any registered backbone."""
import pytest
import torch
from mmengine.registry import init_default_scope

from mmattn import SE, AttentionBackbone, IdentityInit
from ..test_utils.toy_plugins import Scale, Shift, quiet_init
from .test_plugin_resnet import _one_train_step, build_retinanet, detection_batch

RESNET18 = dict(type='ResNet', depth=18, base_channels=16, norm_eval=False)
CSPDARKNET = dict(type='CSPDarknet', deepen_factor=0.33, widen_factor=0.125)
SWIN = dict(type='SwinTransformer', embed_dims=16, depths=(1, 1, 1, 1), num_heads=(1, 1, 2, 2),
            window_size=4, pretrain_img_size=64, drop_path_rate=0.0)
CASES = {
    'resnet': (RESNET18, [16, 32, 64, 128], (2, 3, 37, 45)),
    # CSPDarknet's Focus stem needs even sizes.
    'cspdarknet': (CSPDARKNET, [32, 64, 128], (2, 3, 64, 96)),
    'swin': (SWIN, [16, 32, 64, 128], (2, 3, 37, 45)),
}


@pytest.fixture(autouse=True)
def _mmdet_scope():
    init_default_scope('mmdet')


def _build(backbone, in_channels, **kwargs):
    from mmdet.registry import MODELS
    kwargs.setdefault('attentions', dict(type='SE', reduction=4))
    return MODELS.build(dict(type='AttentionBackbone', backbone=backbone,
                             in_channels=in_channels, **kwargs))


def _same_backbone(model, backbone_cfg):
    from mmdet.registry import MODELS
    plain = MODELS.build(backbone_cfg)
    plain.load_state_dict(model.backbone.state_dict())
    return plain


@pytest.mark.parametrize('case', sorted(CASES))
def test_modules_on_chosen_outputs_only(case):
    backbone, channels, shape = CASES[case]
    indices = (1, len(channels) - 1)
    model = _build(backbone, channels, indices=indices,
                   attentions=[dict(type=Scale, value=2.0), dict(type=Shift, value=1.0)])
    quiet_init(model)
    plain = _same_backbone(model, backbone)
    model.eval()
    plain.eval()
    x = torch.randn(*shape)
    with torch.no_grad():
        outs, ref = model(x), plain(x)
    assert len(outs) == len(channels)
    for i, (o, r) in enumerate(zip(outs, ref)):
        expected = r * 2.0 + 1.0 if i in indices else r
        torch.testing.assert_close(o, expected, rtol=1e-5, atol=1e-5)
    assert isinstance(model.attentions[0], torch.nn.Identity)
    assert list(dict(model.attentions[1].named_children())) == ['scale', 'shift']
    assert model.attentions[indices[-1]].scale.in_channels == channels[-1]


@pytest.mark.parametrize('case', sorted(CASES))
def test_identity_init_equals_the_bare_backbone(case):
    backbone, channels, shape = CASES[case]
    model = _build(backbone, channels, identity_init=True,
                   attentions=[dict(type='SE', reduction=4), dict(type=Shift, value=3.0)])
    quiet_init(model)
    assert all(m.scale.item() == 0 for m in model.modules() if isinstance(m, IdentityInit))
    plain = _same_backbone(model, backbone)
    x = torch.randn(*shape)
    for mode in ('eval', 'train'):
        getattr(model, mode)()
        getattr(plain, mode)()
        with torch.no_grad():
            for o, r in zip(model(x), plain(x)):
                assert torch.equal(o, r)


def test_inner_pretrained_init_and_plain_checkpoints_load(tmp_path):
    from mmdet.models.backbones import ResNet
    source = ResNet(depth=18, base_channels=16)
    with torch.no_grad():
        source.conv1.weight.normal_()
    path = tmp_path / 'r18.pth'
    torch.save(dict(state_dict=source.state_dict()), path)
    model = _build(dict(RESNET18, init_cfg=dict(type='Pretrained', checkpoint=str(path))),
                   [16, 32, 64, 128], identity_init=True)
    quiet_init(model)
    assert torch.equal(model.backbone.conv1.weight, source.conv1.weight)

    # A detector state dict saved without the wrapper: backbone keys move under 'backbone.'.
    fresh = _build(RESNET18, [16, 32, 64, 128])
    missing, unexpected = fresh.load_state_dict(source.state_dict(), strict=False)
    assert not unexpected and all(k.startswith('attentions.') for k in missing)
    assert torch.equal(fresh.backbone.conv1.weight, source.conv1.weight)
    # ... and the wrapper's own state dict round-trips.
    again = _build(RESNET18, [16, 32, 64, 128])
    again.load_state_dict(fresh.state_dict())
    assert torch.equal(again.attentions[2].se.fc1.weight, fresh.attentions[2].se.fc1.weight)


def test_backbone_train_behaviour_is_kept():
    model = _build(dict(RESNET18, frozen_stages=1, norm_eval=True), [16, 32, 64, 128])
    model.train()
    assert not model.backbone.layer1[0].bn1.training
    assert not any(p.requires_grad for p in model.backbone.layer1.parameters())
    assert model.attentions[0].se.training


def test_errors():
    with pytest.raises(ValueError, match=r'AttentionBackbone: index 4 in indices=\[4\] must be '
                                         r'in \[0, 4\)'):
        _build(RESNET18, [16, 32, 64, 128], indices=[4])
    with pytest.raises(TypeError, match='AttentionBackbone: in_channels must list'):
        _build(RESNET18, 16)
    with pytest.raises(TypeError, match='AttentionBackbone: attentions must be a config dict'):
        _build(RESNET18, [16, 32, 64, 128], attentions=[])
    with pytest.raises(ValueError, match="AttentionBackbone: two modules would be named 'se'"):
        _build(RESNET18, [16, 32, 64, 128], attentions=[dict(type='SE'), dict(type='SE')])
    x = torch.randn(2, 3, 32, 32)
    with pytest.raises(ValueError, match=r'AttentionBackbone: ResNet returned 4 outputs, '
                                         r'in_channels=\[16, 32, 64\] lists 3'):
        _build(RESNET18, [16, 32, 64], indices=[0])(x)
    with pytest.raises(ValueError, match=r'AttentionBackbone: output 1 of ResNet has shape '
                                         r'\(2, 32, 4, 4\), expected \(B, in_channels\[1\]=64'):
        _build(RESNET18, [16, 64, 64, 128])(x)


@pytest.mark.integration
def test_retinanet_with_swin_and_attention_trains_one_step():
    swin = dict(SWIN, embed_dims=32, out_indices=(1, 2, 3))
    model = build_retinanet(
        dict(type='AttentionBackbone', backbone=swin, in_channels=[64, 128, 256],
             attentions=[dict(type='SE'), dict(type='SE', postfix=2)], identity_init=True),
        neck=dict(type='FPN', in_channels=[64, 128, 256], out_channels=256, start_level=0,
                  add_extra_convs='on_input', num_outs=5))
    assert isinstance(model.backbone, AttentionBackbone)
    assert isinstance(model.backbone.attentions[2].se2.module, SE)
    scale = model.backbone.attentions[1].se.scale
    log_vars = _one_train_step(model, detection_batch())
    assert log_vars['loss'] > 0
    assert scale.item() != 0  # the SGD step moved the residual scale off the identity


# ---------------------------------------------------------------- mmseg's pretrained

MMSEG_SHIPPED = {
    'HRNet': 'hrnet/fcn_hr18_4xb2-40k_cityscapes-512x1024.py',
    'MobileNetV2': 'mobilenet_v2/mobilenet-v2-d8_fcn_4xb2-80k_cityscapes-512x1024.py',
}


@pytest.fixture
def no_downloads(monkeypatch):
    """Every open-mmlab://, mmcls://, torchvision:// and http(s) checkpoint goes through this."""
    import mmengine.runner.checkpoint as checkpoint

    def refuse(url, *args, **kwargs):
        raise AssertionError(f'the test tried to download {url}')

    monkeypatch.setattr(checkpoint, 'load_from_http', refuse)


def _mmseg_model(path, attention, **options):
    from mmseg.registry import MODELS

    from mmattn.config import apply_attention
    from ..test_utils.toy_plugins import mim_config
    init_default_scope('mmseg')
    cfg = mim_config('mmseg', path)
    cfg.merge_from_dict(options)
    apply_attention(cfg, attention, logger=None)
    return cfg, MODELS.build(cfg.model)


@pytest.mark.parametrize('name', list(MMSEG_SHIPPED))
def test_mmseg_configs_as_shipped_hand_model_pretrained_to_the_wrapped_backbone(
        name, no_downloads):
    cfg, model = _mmseg_model(MMSEG_SHIPPED[name], ['SE:after_stage'])
    assert cfg.model.pretrained.startswith(('open-mmlab://', 'mmcls://'))
    assert isinstance(model.backbone, AttentionBackbone)
    assert type(model.backbone.backbone).__name__ == name
    # mmseg's backbones turn their pretrained into a Pretrained init_cfg, as without wrapper.
    assert model.backbone.backbone.init_cfg == dict(type='Pretrained',
                                                    checkpoint=cfg.model.pretrained)


def test_mmseg_pretrained_checkpoint_loads_into_the_wrapped_backbone(no_downloads, tmp_path):
    from mmengine.model import revert_sync_batchnorm
    from mmseg.registry import MODELS

    from ..test_utils.toy_plugins import mim_config
    init_default_scope('mmseg')
    name = 'MobileNetV2'  # HRNet's path is the same (the test above), and 3x slower to build
    plain_cfg = mim_config('mmseg', MMSEG_SHIPPED[name]).model.backbone
    plain = MODELS.build(plain_cfg)
    with torch.no_grad():
        for p in plain.parameters():
            p.normal_()
    path = tmp_path / f'{name}.pth'
    torch.save(dict(state_dict=plain.state_dict()), path)
    _, model = _mmseg_model(MMSEG_SHIPPED[name], ['SE:after_stage'], **{
        'model.pretrained': str(path)})
    quiet_init(model)
    inner = model.backbone.backbone.state_dict()
    for key, value in plain.state_dict().items():
        assert torch.equal(inner[key], value), key
    # The segmentor runs on top of it (SyncBN as one process has it).
    model = revert_sync_batchnorm(model).eval()
    with torch.no_grad():
        out = model(torch.randn(1, 3, 64, 64), mode='tensor')
    assert out.shape == (1, 19, 8, 8)  # Cityscapes' classes at stride 8


def test_pretrained_and_the_backbones_own_weights_are_refused_together():
    from mmattn.models.backbones.attention_backbone import _takes_pretrained
    with pytest.raises(ValueError, match=r"AttentionBackbone: pretrained='a.pth' and the wrapped "
                                         r"backbone's init_cfg=.* both name its weights"):
        AttentionBackbone(backbone=dict(RESNET18, init_cfg=dict(type='Pretrained',
                                                                checkpoint='b.pth')),
                          in_channels=[16, 32, 64, 128], attentions=dict(type='SE'),
                          pretrained='a.pth')
    # A backbone class without a pretrained argument gets a Pretrained init_cfg.
    from mmdet.models.backbones import CSPDarknet
    assert not _takes_pretrained(CSPDarknet)
    model = _build(CSPDARKNET, [32, 64, 128], pretrained='c.pth')
    assert model.backbone.init_cfg == dict(type='Pretrained', checkpoint='c.pth')
