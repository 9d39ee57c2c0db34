"""Refusals: one sentence naming both sides, and no file written.

An unknown layout, a checkpoint that is not the named architecture, a target
whose depth, stem, shortcut, stride placement, groups, norms or modules differ
from the source's, a module at a position the source did not have, module
arguments or settings the weights were not trained with.
"""
import runpy
import sys
from pathlib import Path

import pytest
import torch

from mmattn.converters import convert_checkpoint, convert_state_dict
from .sources import (R50, SOURCES, OfficialCBAM, OfficialECA, OfficialSCSA, SourceResNet, TimmECA,
                      save_checkpoint)

REPO = Path(__file__).resolve().parents[2]
SE_ALL = [dict(cfg=dict(type='SE'), stages=(True, True, True, True), position='after_conv3')]


def _state(item):
    return dict(SOURCES[item][0]().state_dict())


@pytest.fixture(scope='module')
def seresnet50():
    return _state(('timm', 'seresnet50'))


@pytest.fixture(scope='module')
def src_file(tmp_path_factory):
    """A timm SE-ResNet-50 checkpoint on disk."""
    folder = tmp_path_factory.mktemp('src')
    return save_checkpoint(SOURCES[('timm', 'seresnet50')][0](), 'timm', 'seresnet50', 'pth',
                           str(folder))


def _refused(state, family, match, **kwargs):
    with pytest.raises(ValueError, match=match):
        convert_state_dict(state, family, **kwargs)


def _target(**kwargs):
    cfg = dict(type='PluginResNet', depth=50, plugins=SE_ALL)
    cfg.update(kwargs)
    return dict(backbone=cfg, scope='mmdet')


# ----------------------------------------------------------------------------- layouts

def test_unknown_layout_no_file_written(tmp_path):
    src = tmp_path / 'other.pth'
    torch.save({'encoder.weight': torch.zeros(3, 3)}, src)
    dst = tmp_path / 'out.pth'
    with pytest.raises(ValueError, match=r"converter: other.pth is not a checkpoint of timm's "
                       r'ResNet family: it has no layer1.0.conv1.weight \(its first keys: '
                       r'encoder.weight\)'):
        convert_checkpoint(str(src), str(dst), 'timm')
    assert not dst.exists() and sorted(p.name for p in tmp_path.iterdir()) == ['other.pth']


def test_a_checkpoint_of_another_family_is_an_unknown_layout():
    cbam = _state(('cbam', 'resnet50_cbam'))
    _refused(cbam, 'timm', r"layer1.0.cbam.ChannelGate.mlp.1.weight is no part of its "
             r'Bottleneck \(conv1-3, bn1-3, downsample, modules: se\)')
    _refused(_state(('timm', 'seresnet50')), 'mmpretrain',
             r'it has no backbone.layer1.0.conv1.weight')


def test_unknown_tensor_in_a_module(seresnet50):
    state = dict(seresnet50, **{'layer2.1.se.extra.weight': torch.zeros(1)})
    _refused(state, 'timm', r"layer2.1.se.extra.weight is not part of timm's ResNet family's "
             r'SEModule \(fc1, fc2\)')


def test_a_key_outside_stem_stages_and_classifier(seresnet50):
    state = dict(seresnet50, **{'layer5.0.conv1.weight': torch.zeros(1, 1, 1, 1)})
    _refused(state, 'timm', r'has stages layer1, layer2, layer3, layer4, layer5; a ResNet has '
             'layer1 to layer4')
    state = dict(seresnet50, **{'head.weight': torch.zeros(1)})
    _refused(state, 'timm', r'head.weight is neither in the stem nor in a stage')


def test_basic_block_checkpoints_are_refused(seresnet50):
    state = {k: v for k, v in seresnet50.items() if '.conv3.' not in k}
    _refused(state, 'timm', r'layer1.0 has no conv3: it is a BasicBlock \(ResNet-18/34\)')


@pytest.mark.parametrize('module, match', [
    (lambda c, s: OfficialCBAM(c, no_spatial=True),
     r"is a CBAM without its spatial gate \(no_spatial=True\), which mmattn's CBAM does not "
     'have'),
])
def test_official_cbam_without_spatial_gate(module, match):
    state = dict(SourceResNet(R50, attn_name='cbam', attn=module).state_dict())
    _refused(state, 'cbam', match)


def test_scsa_recombination_and_timm_ecam_and_se_with_norm_are_refused():
    state = dict(SourceResNet(R50, attn_name='attn', attn_position='after_conv2',
                              attn=lambda c, s: OfficialSCSA(c)).state_dict())
    state = {(f'head.{k}' if k.startswith('fc.') else f'backbone.{k}'): v
             for k, v in state.items()}
    state['backbone.layer1.0.attn.conv_d.weight'] = torch.zeros(64, 64 * 49, 1, 1)
    _refused(state, 'scsa', r"has conv_d: it was trained with down_sample_mode='recombination'")
    eca = dict(SourceResNet(R50, attn_name='se', attn=lambda c, s: TimmECA(c)).state_dict())
    eca['layer1.0.se.conv2.weight'] = torch.zeros(1, 8, 3)
    _refused(eca, 'timm', r"use_mlp=True \('ecam'")
    se = _state(('timm', 'seresnet50'))
    se['layer1.0.se.bn.weight'] = torch.zeros(16)
    _refused(se, 'timm', r'an SEModule with a norm between its layers')


# ----------------------------------------------------------------------------- arch and target

def test_not_the_named_architecture(seresnet50):
    _refused(seresnet50, 'timm', r'converter: the timm checkpoint is not timm seresnet101: it has '
             r'3, 4, 6, 3 blocks per stage, timm seresnet101 has 3, 4, 23, 3',
             arch='seresnet101')
    _refused(seresnet50, 'timm', r'is not timm ecaresnet50d: it has the plain stem \(one 7x7 '
             r'conv: conv1, bn1\), timm ecaresnet50d has the deep stem', arch='ecaresnet50d')
    _refused(seresnet50, 'timm', r'is not timm resnet50: it has SE, timm resnet50 has no '
             'attention module', arch='resnet50')


def test_module_arguments_are_not_the_named_architectures():
    """ECA-Net's --ksize 3333 checkpoint is not the published eca_resnet50 (k3557)."""
    state = dict(SourceResNet(R50, attn_name='eca',
                              attn=lambda c, s: OfficialECA(c, 3)).state_dict())
    _refused(state, 'eca', r'is not eca eca_resnet50: it has layer2.0: ECA after conv3 with '
             r'kernel_size=3, eca eca_resnet50 has ECA after conv3 with kernel_size=5 in every '
             r'block of stage 2', arch='eca_resnet50')
    # Without --arch it converts, with its own kernels.
    _, report = convert_state_dict(state, 'eca')
    assert report.arch is None
    assert report.backbone['plugins'] == [dict(cfg=dict(type='ECA', kernel_size=3),
                                               stages=(True, True, True, True),
                                               position='after_conv3')]


def test_depth_differs(seresnet50):
    _refused(seresnet50, 'timm', r'the timm checkpoint \(timm seresnet50\) has 3, 4, 6, 3 blocks '
             r'per stage \(ResNet-50\), the target PluginResNet has 3, 4, 23, 3 \(depth=101, '
             r'num_stages=4\)', **_target(depth=101))


def test_stem_differs(seresnet50):
    _refused(seresnet50, 'timm', r'has the plain stem \(one 7x7 conv: conv1, bn1\), the target '
             r'PluginResNetV1c has the deep stem \(three 3x3 convs: stem.0-7\): use ResNet, '
             r'PluginResNet \(mmdet\) or PluginResNetV1b \(mmseg\)',
             backbone=dict(type='PluginResNetV1c', depth=50, plugins=SE_ALL), scope='mmseg')


def test_shortcut_differs():
    eca_d = _state(('timm', 'ecaresnet50d'))
    plugins = [dict(cfg=dict(type='ECA', kernel_size=5), stages=(True, True, True, False),
                    position='after_conv3'),
               dict(cfg=dict(type='ECA', kernel_size=7), stages=(False, False, False, True),
                    position='after_conv3')]
    _refused(eca_d, 'timm', r'downsamples its shortcuts with an average pool before the 1x1 conv '
             r'\(ResNet-D, avg_down=True\), the target PluginResNetV1c with a strided 1x1 conv '
             r'\(avg_down=False\)',
             backbone=dict(type='PluginResNetV1c', depth=50, plugins=plugins), scope='mmseg')


def test_groups_differ():
    x = _state(('timm', 'seresnext50_32x4d'))
    _refused(x, 'timm', r'has 3x3 convs in 32 groups of 4 channels \(ResNeXt 32x4d\), the '
             r'target PluginResNet has ungrouped 3x3 convs \(64 channels in stage 1: a ResNet\)',
             **_target())


def test_stride_placement_norms_dcn_and_backbone_type(seresnet50):
    _refused(seresnet50, 'timm', r"strides in the 3x3 conv \(style='pytorch'\), the target "
             r"PluginResNet has style='caffe'", **_target(style='caffe'))
    _refused(seresnet50, 'timm', r'the target PluginResNet has stem? ?.*bn1 with eps=0.001; .* '
             r'was trained with BatchNorm eps=1e-05|has bn1 with eps=0.001',
             **_target(norm_cfg=dict(type='BN', eps=1e-3)))
    _refused(seresnet50, 'timm', r'normalises gn1 with GroupNorm \(norm_cfg\); .*BatchNorm '
             r'statistics have no place there', **_target(norm_cfg=dict(type='GN', num_groups=32)))
    _refused(seresnet50, 'timm', r'the target MobileNetV2 is a MobileNetV2; the converters write '
             r'ResNet-family backbones', backbone=dict(type='MobileNetV2'), scope='mmdet')


def test_deformable_convs_are_refused(seresnet50):
    _refused(seresnet50, 'timm', r'has deformable convs in layer2.0 \(dcn / stage_with_dcn\)',
             **_target(dcn=dict(type='DCNv2', deform_groups=1, fallback_on_stride=False),
                       stage_with_dcn=(False, True, True, True)))


# ----------------------------------------------------------------------------- modules

def test_another_module_at_the_same_position(seresnet50):
    _refused(seresnet50, 'timm', r'converter: after conv3 in layer1.0, the timm checkpoint '
             r'\(timm seresnet50\) has SE and the target PluginResNet has CBAM',
             **_target(plugins=[dict(cfg=dict(type='CBAM'), position='after_conv3')]))


def test_a_module_where_the_source_has_none(seresnet50):
    plugins = SE_ALL + [dict(cfg=dict(type='ECA'), stages=(False, True, False, False),
                             position='after_conv2')]
    _refused(seresnet50, 'timm', r'converter: the target PluginResNet has ECA after conv2 in '
             r'layer2.0, a position where the timm checkpoint \(timm seresnet50\) has no module '
             r'\(it has SE after conv3 in stages 1-4\)', **_target(plugins=plugins))


def test_a_source_module_the_target_lacks(seresnet50):
    plugins = [dict(cfg=dict(type='SE'), stages=(False, True, True, True),
                    position='after_conv3')]
    _refused(seresnet50, 'timm', r'\(timm seresnet50\) has SE after conv3 in layer1.0 \(SE after '
             r'conv3 in stages 1-4\), where the target PluginResNet has no module \(SE after '
             r'conv3 in stages 2-4\)', **_target(plugins=plugins))
    _refused(seresnet50, 'timm', r'where the target ResNet has no module \(no modules\)',
             backbone=dict(type='ResNet', depth=50), scope='mmdet')


def test_module_norm_epsilon_differs():
    cbam = _state(('cbam', 'resnet50_cbam'))
    plugins = [dict(cfg=dict(type='CBAM', norm_cfg=dict(type='BN', eps=1e-3)),
                    position='after_conv3')]
    _refused(cbam, 'cbam', r'the target PluginResNet has layer1.0.cbam.spatial_norm with '
             r'eps=0.001; the CBAM of .* was trained with eps=1e-05', **_target(plugins=plugins))


def test_module_arguments_differ(seresnet50):
    eca = _state(('eca', 'eca_resnet50'))
    plugins = [dict(cfg=dict(type='ECA'), position='after_conv3')]
    _refused(eca, 'eca', r'the ECA of the eca checkpoint \(eca eca_resnet50\) in layer1.0 has '
             r'kernel_size=3, the one of the target PluginResNet has kernel_size=5',
             **_target(plugins=plugins))
    plugins = [dict(cfg=dict(type='SE', reduction=8), position='after_conv3')]
    _refused(seresnet50, 'timm', r'in layer1.0 has hidden=16, bias=True, the one of the target '
             r'PluginResNet has hidden=32, bias=True', **_target(plugins=plugins))


def test_identity_init_target_is_refused(seresnet50):
    plugins = [dict(cfg=dict(type='SE'), position='after_conv3', identity_init=True)]
    _refused(seresnet50, 'timm', r'the target PluginResNet wraps its SE after conv3 in layer1.0 in '
             r'IdentityInit \(identity_init=True\).*set identity_init=False',
             **_target(plugins=plugins))


def test_module_settings_differ(seresnet50):
    plugins = [dict(cfg=dict(type='SE', gate_cfg=dict(type='HSigmoid')), position='after_conv3')]
    _refused(seresnet50, 'timm', r"the SE of the timm checkpoint \(timm seresnet50\) computes with "
             r"gate='Sigmoid', the target PluginResNet has gate='HSigmoid' in layer1.0.se",
             **_target(plugins=plugins))


def test_scsa_settings_come_from_the_training_config(tmp_path):
    factory, fmt = SOURCES[('scsa', 'resnet50_scsa')]
    src = save_checkpoint(factory(), 'scsa', 'resnet50_scsa', fmt, str(tmp_path))
    plugins = [dict(cfg=dict(type='SCSA', head_num=2), position='after_conv2')]
    with pytest.raises(ValueError, match=r'the SCSA of .* computes with head_num=1, the backbone '
                       r'of target_config.py \(PluginResNet\) has head_num=2 in layer1.0.scsa'):
        convert_checkpoint(src, str(tmp_path / 'o.pth'), 'scsa',
                           config=_config(tmp_path, 'PluginResNet', plugins))
    assert not (tmp_path / 'o.pth').exists()
    # Without a training config: converted, with a note saying what was not checked.
    state = torch.load(src, weights_only=True)['state_dict']
    _, report = convert_state_dict(state, 'scsa', meta={})
    assert any('could not be checked' in n for n in report.notes)


def _config(folder, type_, plugins, depth=50):
    path = folder / 'target_config.py'
    path.write_text(
        "_base_ = 'mmdet::retinanet/retinanet_r50_fpn_1x_coco.py'\n"
        "custom_imports = dict(imports=['mmattn'], allow_failed_imports=False)\n"
        f"model = dict(backbone=dict(type={type_!r}, depth={depth}, plugins={plugins!r}))\n")
    return str(path)


def test_config_target_is_named_by_its_file(src_file, tmp_path):
    dst = tmp_path / 'out.pth'
    with pytest.raises(ValueError, match=r'the backbone of target_config.py \(PluginResNet\) has '
                       r'3, 4, 23, 3'):
        convert_checkpoint(src_file, str(dst), 'timm',
                           config=_config(tmp_path, 'PluginResNet', SE_ALL, depth=101))
    assert not dst.exists()
    report = convert_checkpoint(src_file, str(dst), 'timm',
                                config=_config(tmp_path, 'PluginResNet', SE_ALL))
    assert dst.exists() and report.target.startswith('the backbone of target_config.py')


# ----------------------------------------------------------------------------- output file

def test_existing_output_is_kept_unless_forced(src_file, tmp_path):
    dst = tmp_path / 'exists.pth'
    dst.write_bytes(b'keep me')
    with pytest.raises(FileExistsError, match=r'exists.pth.* exists; it is not overwritten '
                       r'unless asked \(force=True, --force on the command line\)'):
        convert_checkpoint(src_file, str(dst), 'timm')
    assert dst.read_bytes() == b'keep me'
    convert_checkpoint(src_file, str(dst), 'timm', force=True)
    state = torch.load(dst, weights_only=True)['state_dict']
    assert 'layer4.2.se.fc2.bias' in state
    assert sorted(p.name for p in tmp_path.iterdir()) == ['exists.pth']  # no temporary left


def test_output_must_be_a_pth(src_file, tmp_path):
    with pytest.raises(ValueError, match=r'the output .*out.safetensors.* must end in .pth'):
        convert_checkpoint(src_file, str(tmp_path / 'out.safetensors'), 'timm')


def test_the_script_prints_one_line_and_exits_1(src_file, tmp_path, capsys):
    dst = tmp_path / 'out.pth'
    script = REPO / 'tools' / 'model_converters' / 'timm2mmattn.py'
    old = sys.argv
    sys.argv = [str(script), src_file, str(dst), '--arch', 'seresnet101']
    try:
        with pytest.raises(SystemExit) as exit_info:
            runpy.run_path(str(script), run_name='__main__')
    finally:
        sys.argv = old
    assert exit_info.value.code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith('error: converter: ') and 'seresnet101' in err[0]
    assert not dst.exists()
