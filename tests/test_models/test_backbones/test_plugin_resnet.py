"""PluginResNet (mmdet), PluginResNetV1c/V1d (mmseg): plugins at every position of every block."""
import pytest
import torch
import torch.nn.functional as F
from mmengine.registry import init_default_scope

from mmattn import SE, IdentityInit, PluginResNet, PluginResNetV1c, PluginResNetV1d
from ..test_utils.toy_plugins import Scale, Shift, mim_config, quiet_init


@pytest.fixture(autouse=True)
def _mmdet_scope():
    init_default_scope('mmdet')


def _eval(model):
    return model.eval()


def _assert_same_outputs(ours, ref, x):
    """Every output of ``ours`` on ``x`` equals ``ref``'s, to the bit."""
    with torch.no_grad():
        for a, b in zip(ours(x), ref(x)):
            assert torch.equal(a, b)


def _bottleneck_reference(block, x, after1=None, after2=None, after3=None):
    """The Bottleneck forward written out, with given functions at the plugin positions."""
    ident = (lambda t: t)
    out = F.relu(block.norm1(block.conv1(x)))
    out = (after1 or ident)(out)
    out = F.relu(block.norm2(block.conv2(out)))
    out = (after2 or ident)(out)
    out = block.norm3(block.conv3(out))
    out = (after3 or ident)(out)
    identity = x if block.downsample is None else block.downsample(x)
    return F.relu(out + identity)


def _basic_reference(block, x, after1=None, after2=None):
    ident = (lambda t: t)
    out = F.relu(block.norm1(block.conv1(x)))
    out = (after1 or ident)(out)
    out = block.norm2(block.conv2(out))
    out = (after2 or ident)(out)
    identity = x if block.downsample is None else block.downsample(x)
    return F.relu(out + identity)


def _randomize_norms(model):
    # Kaiming + zero_init_residual leave norm3/norm2 at 0: give every norm
    # non-trivial statistics so that the block's branch is not zero.
    g = torch.Generator().manual_seed(1)
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.weight.data = torch.rand(m.weight.shape, generator=g) + 0.5
            m.bias.data = torch.randn(m.bias.shape, generator=g) * 0.1
            m.running_mean = torch.randn(m.running_mean.shape, generator=g) * 0.1
            m.running_var = torch.rand(m.running_var.shape, generator=g) + 0.5


TWO_AT_ONE = [dict(cfg=dict(type=Scale, value=2.0), position='after_conv3'),
              dict(cfg=dict(type=Shift, value=1.0), position='after_conv3')]


# ---------------------------------------------------------------- mmdet: parity and positions

@pytest.mark.parametrize('depth', [18, 50])
def test_without_plugins_is_mmdets_resnet(depth):
    from mmdet.models.backbones import ResNet
    ref = ResNet(depth=depth, base_channels=32)
    _randomize_norms(ref)
    _eval(ref)
    ours = PluginResNet(depth=depth, base_channels=32)
    assert list(ours.state_dict()) == list(ref.state_dict())
    ours.load_state_dict(ref.state_dict())
    _eval(ours)
    x = torch.randn(2, 3, 45, 37)
    _assert_same_outputs(ours, ref, x)


@pytest.mark.parametrize('hw', [(1, 1), (3, 5), (7, 9)])
def test_basic_block_positions_and_order(hw):
    net = PluginResNet(depth=18, plugins=[
        dict(cfg=dict(type=Scale, value=3.0, postfix=1), position='after_conv1'),
        dict(cfg=dict(type=Scale, value=2.0), position='after_conv2'),
        dict(cfg=dict(type=Shift, value=1.0), position='after_conv2')])
    _randomize_norms(net)
    _eval(net)
    block = net.layer2[0]
    assert block.after_conv1_plugin_names == ['scale1'] and block.scale1.in_channels == 128
    assert block.after_conv2_plugin_names == ['scale', 'shift']
    x = torch.randn(3, 64, *hw)
    with torch.no_grad():
        expected = _basic_reference(block, x, after1=lambda t: t * 3.0,
                                    after2=lambda t: t * 2.0 + 1.0)
        torch.testing.assert_close(block(x), expected, rtol=1e-5, atol=1e-5)


def test_names_of_two_plugins_of_one_type_need_postfix():
    # mmdet asserts; the names clash across positions of a block too.
    with pytest.raises(ValueError, match=r"PluginBasicBlock: a plugin at after_conv2 would be "
                                         r"named 'scale'.*postfix"):
        PluginResNet(depth=18, plugins=[
            dict(cfg=dict(type=Scale), position='after_conv1'),
            dict(cfg=dict(type=Scale), position='after_conv2')])
    with pytest.raises(ValueError, match="PluginBottleneck: a plugin at after_conv3 would be "
                                         "named 'shift'"):
        PluginResNet(depth=50, plugins=[
            dict(cfg=dict(type=Shift), position='after_conv1'), *TWO_AT_ONE])
    with pytest.raises(ValueError, match="would be named 'se'"):
        PluginResNet(depth=50, plugins=[dict(cfg=dict(type='SE'), position='after_conv3'),
                                        dict(cfg=dict(type='SE'), position='after_conv3')])
    net = PluginResNet(depth=18, plugins=[
        dict(cfg=dict(type=Scale), position='after_conv1'),
        dict(cfg=dict(type=Scale, postfix=2), position='after_conv2')])
    assert net.layer1[0].after_conv1_plugin_names == ['scale']
    assert net.layer1[0].after_conv2_plugin_names == ['scale2']


@pytest.mark.parametrize('depth', [50, 101])
def test_bottleneck_several_plugins_at_one_position_in_order(depth):
    some = (True, False, True, False)
    plugins = [
        dict(cfg=dict(type='SE', postfix=1), position='after_conv2', stages=some),
        dict(cfg=dict(type='SE', postfix=2), position='after_conv2', stages=some),
        dict(cfg=dict(type=Shift, value=0.5, postfix=1), position='after_conv1'),
    ] + TWO_AT_ONE
    net = PluginResNet(depth=depth, plugins=plugins)
    _randomize_norms(net)
    _eval(net)
    for i, layer in enumerate([net.layer1, net.layer2, net.layer3, net.layer4]):
        for block in layer:
            assert block.after_conv1_plugin_names == ['shift1']
            assert block.after_conv2_plugin_names == (['se1', 'se2'] if some[i] else [])
            assert block.after_conv3_plugin_names == ['scale', 'shift']
    assert len(net.layer3) == {50: 6, 101: 23}[depth]
    block = net.layer3[0]
    assert block.se1.in_channels == 256 and block.shift.in_channels == 1024
    x = torch.randn(2, 512, 7, 9)
    with torch.no_grad():
        expected = _bottleneck_reference(
            block, x, after1=lambda t: t + 0.5,
            after2=lambda t: block.se2(block.se1(t)),
            after3=lambda t: t * 2.0 + 1.0)
        torch.testing.assert_close(block(x), expected, rtol=1e-5, atol=1e-5)
    assert [o.shape[1] for o in net(torch.randn(1, 3, 32, 32))] == [256, 512, 1024, 2048]


@pytest.mark.parametrize('plugin, error, match', [
    (dict(cfg=dict(type='SE'), position='after_conv3'), ValueError,
     r"PluginResNet: plugin position 'after_conv3' is not one of \('after_conv1', "
     r"'after_conv2'\) of the BasicBlock of depth 18"),
    (dict(cfg=dict(type='SE'), position='after_conv2', stages=(True, False)), ValueError,
     r'PluginResNet: plugin stages=\(True, False\) must have one entry per stage'),
    (dict(cfg=dict(type='SE'), position='after_conv2', where='x'), ValueError,
     r'PluginResNet: a plugin is dict\(cfg=..., position=...'),
    (dict(cfg=dict(type='SE')), ValueError, r'cfg and position required'),
    (dict(cfg=dict(type='SE'), position='after_conv2', identity_init=1), TypeError,
     r'PluginResNet: identity_init must be True or False, got 1'),
])
def test_plugin_errors(plugin, error, match):
    with pytest.raises(error, match=match):
        PluginResNet(depth=18, plugins=[plugin])


@pytest.mark.parametrize('stages', [(0, 1, 1, 1), ('no', 'yes', 'yes', 'yes'), 'TTTT', 1])
def test_plugin_stages_must_be_bools(stages):
    with pytest.raises(TypeError, match=r'PluginResNet: plugin stages=.* must be a tuple of '
                                        r'True/False, one per stage'):
        PluginResNet(depth=18, plugins=[dict(cfg=dict(type='SE'), position='after_conv2',
                                             stages=stages)])


@pytest.mark.parametrize('cls', [PluginResNet, PluginResNetV1c, PluginResNetV1d])
@pytest.mark.parametrize('kwargs, match', [
    (dict(frozen_stages=5), r'frozen_stages=5 must be an int from -1 .* to num_stages=4'),
    (dict(frozen_stages=3, num_stages=2, out_indices=(0, 1), strides=(1, 2), dilations=(1, 1)),
     r'frozen_stages=3 must be an int from -1 .* to num_stages=2'),
    (dict(frozen_stages=-2), r'frozen_stages=-2 must be'),
    (dict(frozen_stages=True), r'frozen_stages=True must be'),
    (dict(frozen_stages='1'), r"frozen_stages='1' must be"),
    (dict(num_stages=5), r'num_stages=5 must be an int from 1 to 4'),
    (dict(out_indices=(0, 4)), r'out_indices=\(0, 4\) must be a sequence of stage indices '
                               r'from 0 to num_stages - 1 = 3'),
])
def test_stage_arguments_are_checked(cls, kwargs, match):
    with pytest.raises(ValueError, match=cls.__name__ + ': ' + match):
        cls(depth=18, **kwargs)


@pytest.mark.parametrize('cls', [PluginResNet, PluginResNetV1c])
def test_train_and_eval_return_the_module(cls):
    net = cls(depth=18, base_channels=8)
    assert net.train() is net and net.training
    assert net.eval() is net and not net.training


CBAM_CFG = dict(type='CBAM', reduction=4)  # CBAM's spatial gate has a BatchNorm


@pytest.mark.parametrize('cls', [PluginResNet, PluginResNetV1c, PluginResNetV1d])
def test_norm_eval_freezes_the_backbone_norms_and_trains_the_plugin_norms(cls):
    """With norm_eval=True (mmdet's and mmseg's bases), the pretrained network's BNs stay in
    eval mode with their statistics, the plugins' BNs train and update theirs; plugins in frozen
    stages stay frozen."""
    net = cls(depth=50, base_channels=8, frozen_stages=1, norm_eval=True,
              plugins=[dict(cfg=CBAM_CFG, position='after_conv3')])
    net.train()
    plugin_bns = {m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)
                  and m.num_features == 1}
    own_bns = {m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)} - plugin_bns
    frozen = {net.layer1[i].cbam.spatial_norm for i in range(len(net.layer1))}
    assert plugin_bns and own_bns and frozen <= plugin_bns
    assert not any(m.training for m in own_bns)
    assert not any(m.training for m in frozen)
    assert all(m.training for m in plugin_bns - frozen)
    before = {m: (m.running_mean.clone(), m.running_var.clone()) for m in net.modules()
              if isinstance(m, torch.nn.BatchNorm2d)}
    net(torch.randn(2, 3, 64, 64))
    for m, (mean, var) in before.items():
        moved = not (torch.equal(m.running_mean, mean) and torch.equal(m.running_var, var))
        assert moved == (m in plugin_bns - frozen)
    # Without norm_eval every norm trains outside the frozen stages, as in mmdet.
    net = cls(depth=50, base_channels=8, frozen_stages=1, norm_eval=False,
              plugins=[dict(cfg=CBAM_CFG, position='after_conv3')]).train()
    assert all(m.training for m in net.layer2.modules())
    assert not any(m.training for m in net.layer1.modules())
    # eval() puts the plugins' norms in eval mode too.
    assert not any(m.training for m in net.eval().modules())


def test_stock_mmdet_resnet_freezes_plugin_norms():
    """What docs/placement.md says of mmdet's ResNet: under norm_eval, plugin BNs never train."""
    from mmdet.models.backbones import ResNet
    net = ResNet(depth=50, base_channels=8, norm_eval=True,
                 plugins=[dict(cfg=CBAM_CFG, position='after_conv3')])
    net.train()
    norm = net.layer2[0].cbam.spatial_norm
    assert not norm.training
    net(torch.randn(2, 3, 64, 64))
    assert torch.equal(norm.running_var, torch.ones(1))


def test_dcn_on_basic_block_is_refused():
    with pytest.raises(ValueError, match='dcn is not supported in BasicBlock'):
        PluginResNet(depth=34, dcn=dict(type='DCNv2', deform_groups=1),
                     stage_with_dcn=(False, True, True, True))


def test_plugins_must_be_a_list_of_dicts():
    with pytest.raises(TypeError, match='PluginResNet: plugins must be a list'):
        PluginResNet(depth=18, plugins=dict(cfg=dict(type='SE'), position='after_conv1'))


def test_mmdet_arguments_still_work():
    net = PluginResNet(depth=34, out_indices=(1, 3), frozen_stages=1, norm_eval=True,
                       style='caffe', plugins=[dict(cfg=dict(type='SE'), position='after_conv2',
                                                    stages=(False, True, True, True))])
    net.train()
    assert not any(p.requires_grad for p in net.layer1.parameters())
    assert not net.layer2[0].bn1.training  # norm_eval
    assert [len(getattr(net, f'layer{i}')) for i in range(1, 5)] == [3, 4, 6, 3]
    outs = net(torch.randn(1, 3, 64, 64))
    assert [o.shape[1] for o in outs] == [128, 512]
    assert not hasattr(net.layer1[0], 'se') and isinstance(net.layer4[2].se, SE)


@pytest.mark.parametrize('depth', [18, 50])
def test_with_cp_gives_the_same_gradients(depth):
    plugins = [dict(cfg=dict(type='SE', reduction=4), position='after_conv2')]
    nets = [PluginResNet(depth=depth, base_channels=8, with_cp=cp, norm_eval=False,
                         plugins=plugins) for cp in (False, True)]
    nets[1].load_state_dict(nets[0].state_dict())
    x = torch.randn(2, 3, 32, 32, requires_grad=True)
    grads = []
    for net in nets:
        _eval(net)
        x.grad = None
        sum(o.sum() for o in net(x)).backward()
        grads.append((x.grad.clone(), net.layer2[0].se.fc1.weight.grad.clone()))
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b)


# ---------------------------------------------------------------- identity init

def _plain_and_plugged(cls, depth, plugins, **kwargs):
    plain_cls = {PluginResNet: 'ResNet', PluginResNetV1c: 'ResNetV1c'}[cls]
    if plain_cls == 'ResNet':
        from mmdet.models.backbones import ResNet as Plain
    else:
        from mmseg.models.backbones import ResNetV1c as Plain
    plain = quiet_init(Plain(depth=depth, **kwargs))
    _randomize_norms(plain)
    return plain, cls(depth=depth, plugins=plugins, **kwargs)


@pytest.mark.parametrize('cls, depth', [(PluginResNet, 18), (PluginResNet, 50),
                                        (PluginResNetV1c, 50)])
def test_identity_init_starts_as_the_plain_resnet(cls, depth, tmp_path):
    positions = ['after_conv1', 'after_conv2'] + (['after_conv3'] if depth >= 50 else [])
    plugins = [dict(cfg=dict(type='SE', postfix=p[-1]), position=p, identity_init=True)
               for p in positions]
    plugins.append(dict(cfg=dict(type=Shift, value=3.0), position=positions[-1],
                        identity_init=True))
    # Narrow networks (16 base channels): the same code paths, a fraction of the time.
    narrow = dict(base_channels=16, stem_channels=16)
    plain, plugged = _plain_and_plugged(cls, depth, plugins, **narrow)
    x = torch.randn(2, 3, 48, 40)

    # 1) The ResNet's own init (Kaiming on every conv, Constant on norms), then
    # the plain weights copied in: the scales stay 0 and the outputs are equal.
    quiet_init(plugged)
    missing, unexpected = plugged.load_state_dict(plain.state_dict(), strict=False)
    assert not unexpected and missing and all('.se' in k or '.shift' in k for k in missing)
    scales = [m.scale for m in plugged.modules() if isinstance(m, IdentityInit)]
    assert len(scales) == len(plugins) * sum(plugged.stage_blocks)
    assert all(s.item() == 0.0 for s in scales)
    for mode in ('eval', 'train'):
        getattr(plain, mode)()
        getattr(plugged, mode)()
        _assert_same_outputs(plugged, plain, x)

    # 2) A Pretrained checkpoint of the plain network (no plugin keys).
    path = tmp_path / 'plain.pth'
    torch.save(dict(state_dict=plain.state_dict()), path)
    plugged = cls(depth=depth, plugins=plugins, **narrow,
                  init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    quiet_init(plugged)
    _eval(plugged)
    _eval(plain)
    _assert_same_outputs(plugged, plain, x)

    # 3) Without identity_init the same plugins change the output.
    plugins_off = [dict(p, identity_init=False) for p in plugins]
    changed = cls(depth=depth, plugins=plugins_off, **narrow)
    changed.load_state_dict(plain.state_dict(), strict=False)
    _eval(changed)
    with torch.no_grad():
        assert not torch.equal(changed(x)[-1], plain(x)[-1])


# ---------------------------------------------------------------- mmseg

def test_mmseg_resnetv1c_applies_only_the_last_plugin_at_a_position():
    """The mechanism: mmseg 1.2.2's ``Bottleneck.forward_plugin`` is

    ``for name in plugin_names: out = getattr(self, name)(x)``: every plugin
    gets the block's feature ``x``, not the previous plugin's ``out``, so the
    returned value is ``last_plugin(x)``; the earlier plugins run and are
    thrown away (no gradient reaches them).
    """
    from mmseg.models.backbones import ResNetV1c
    net = ResNetV1c(depth=50, plugins=TWO_AT_ONE)
    _randomize_norms(net)
    _eval(net)
    block = net.layer2[1]
    assert block.after_conv3_plugin_names == ['scale', 'shift']
    x = torch.randn(2, 512, 5, 7)
    out = block(x)
    only_last = _bottleneck_reference(block, x, after3=lambda t: t + 1.0)
    both = _bottleneck_reference(block, x, after3=lambda t: t * 2.0 + 1.0)
    torch.testing.assert_close(out, only_last, rtol=1e-5, atol=1e-5)
    assert not torch.allclose(out, both, rtol=1e-3, atol=1e-3)
    out.sum().backward()
    assert block.scale.weight.grad is None and block.shift.bias.grad is not None


@pytest.mark.parametrize('cls', [PluginResNetV1c, PluginResNetV1d])
def test_mmattn_seg_resnet_applies_every_plugin_in_order(cls):
    net = cls(depth=50, dilations=(1, 1, 2, 4), strides=(1, 2, 1, 1), contract_dilation=True,
              plugins=TWO_AT_ONE)
    _randomize_norms(net)
    _eval(net)
    # mmseg's arguments are kept: dilated last stages, contracted first dilation.
    assert net.layer4[0].conv2.dilation == (2, 2) and net.layer4[1].conv2.dilation == (4, 4)
    assert net.stem is not None and net.deep_stem
    block = net.layer2[1]
    x = torch.randn(2, 512, 5, 7)
    out = block(x)
    both = _bottleneck_reference(block, x, after3=lambda t: t * 2.0 + 1.0)
    torch.testing.assert_close(out, both, rtol=1e-5, atol=1e-5)
    out.sum().backward()
    assert block.scale.weight.grad is not None and block.shift.bias.grad is not None


def test_mmseg_basic_block_takes_plugins():
    from mmseg.models.backbones import ResNetV1c
    with pytest.raises(AssertionError):
        ResNetV1c(depth=18, plugins=[dict(cfg=dict(type='SE'), position='after_conv2')])
    net = PluginResNetV1c(depth=18, plugins=[
        dict(cfg=dict(type=Scale, value=3.0), position='after_conv1'),
        dict(cfg=dict(type=Shift), position='after_conv2')])
    _randomize_norms(net)
    _eval(net)
    block = net.layer3[0]
    x = torch.randn(1, 128, 9, 7)
    with torch.no_grad():
        expected = _basic_reference(block, x, after1=lambda t: t * 3.0,
                                    after2=lambda t: t + 1.0)
        torch.testing.assert_close(block(x), expected, rtol=1e-5, atol=1e-5)
    assert [o.shape[1] for o in net(torch.randn(1, 3, 33, 33))] == [64, 128, 256, 512]


# ---------------------------------------------------------------- real models, one step

def _one_train_step(model, data):
    from mmengine.optim import build_optim_wrapper
    optim = build_optim_wrapper(model, dict(optimizer=dict(type='SGD', lr=0.01, momentum=0.9)))
    model.train()
    log_vars = model.train_step(data, optim)
    assert all(torch.isfinite(torch.as_tensor(v)).all() for v in log_vars.values())
    return log_vars


def detection_batch(shapes=((96, 128), (120, 100))):
    from tests.test_integration.test_mmdet_detector import _synthetic_batch
    return _synthetic_batch(shapes)


def build_retinanet(backbone, neck=None):
    from mmdet.registry import MODELS
    cfg = mim_config('mmdet', 'retinanet/retinanet_r50_fpn_1x_coco.py')
    cfg.model.backbone = backbone
    if neck is not None:
        cfg.model.neck = neck
    model = MODELS.build(cfg.model)
    return quiet_init(model)


@pytest.mark.integration
@pytest.mark.parametrize('depth', [18, 101])
def test_retinanet_with_plugin_resnet_trains_one_step(depth):
    if depth == 18:
        plugins = [dict(cfg=dict(type='SE'), position='after_conv1',
                        stages=(False, True, True, True)),
                   dict(cfg=dict(type='SE', postfix=2), position='after_conv2'),
                   dict(cfg=dict(type=Shift), position='after_conv2', identity_init=True)]
        in_channels = [64, 128, 256, 512]
    else:
        plugins = [dict(cfg=dict(type='SE', postfix=1), position='after_conv3'),
                   dict(cfg=dict(type='SE', postfix=2), position='after_conv3',
                        stages=(False, True, True, True), identity_init=True),
                   dict(cfg=dict(type='SE', postfix=3), position='after_conv2',
                        stages=(False, False, True, False))]
        in_channels = [256, 512, 1024, 2048]
    model = build_retinanet(
        dict(type='PluginResNet', depth=depth, frozen_stages=1, norm_eval=True,
             plugins=plugins),
        neck=dict(type='FPN', in_channels=in_channels, out_channels=256, start_level=1,
                  add_extra_convs='on_input', num_outs=5))
    # zero_init_residual zeroes the last norm of every block, so at step 1 no
    # plugin inside a block would get a gradient; pretrained-like norms instead.
    _randomize_norms(model.backbone)
    block = model.backbone.layer3[1]
    watched = block.se if depth == 18 else block.se1
    before = watched.fc1.weight.detach().clone()
    log_vars = _one_train_step(model, detection_batch())
    assert log_vars['loss'] > 0
    assert not torch.equal(watched.fc1.weight.detach(), before)


@pytest.mark.integration
def test_mmseg_fcn_with_plugin_resnetv1c_trains_one_step():
    from mmengine.structures import PixelData
    from mmseg.registry import MODELS
    from mmseg.structures import SegDataSample
    init_default_scope('mmseg')
    cfg = mim_config('mmseg', '_base_/models/fcn_r50-d8.py')
    norm_cfg = dict(type='BN', requires_grad=True)  # SyncBN needs a process group
    cfg.model.data_preprocessor.size = (64, 64)
    cfg.model.pretrained = None
    cfg.model.backbone.update(
        type='PluginResNetV1c', norm_cfg=norm_cfg,
        plugins=[dict(cfg=dict(type='SE', postfix=1), position='after_conv3'),
                 dict(cfg=dict(type='SE', postfix=2), position='after_conv3',
                      stages=(False, False, True, True))])
    cfg.model.decode_head.norm_cfg = norm_cfg
    cfg.model.auxiliary_head.norm_cfg = norm_cfg
    model = quiet_init(MODELS.build(cfg.model))
    _randomize_norms(model.backbone)  # pretrained-like: zero_init_residual would block gradients
    block = model.backbone.layer4[0]
    assert block.after_conv3_plugin_names == ['se1', 'se2']
    g = torch.Generator().manual_seed(0)
    inputs, samples = [], []
    for _ in range(2):
        inputs.append(torch.randint(0, 255, (3, 64, 64), generator=g, dtype=torch.uint8))
        sample = SegDataSample(metainfo=dict(img_shape=(64, 64), ori_shape=(64, 64)))
        sample.gt_sem_seg = PixelData(
            data=torch.randint(0, 19, (1, 64, 64), generator=g, dtype=torch.long))
        samples.append(sample)
    before = block.se1.fc1.weight.detach().clone()
    log_vars = _one_train_step(model, dict(inputs=inputs, data_samples=samples))
    assert {'decode.loss_ce', 'aux.loss_ce'} <= set(log_vars)
    # The first of two plugins at one position trains too (mmseg's own would not).
    assert not torch.equal(block.se1.fc1.weight.detach(), before)
