"""Converted backbones compute what the source models compute.

For every published architecture of every source family (the table in
``mmattn.converters``), a test-local model written from the source's own
code (``sources.py``) gets random weights and BN statistics, is saved in its
source's format (safetensors, a bare ``.pth``, a ``DataParallel`` ``.pth.tar``,
an mmpretrain/mmengine classifier checkpoint) and converted; the mmattn
backbone built from the converter's backbone config, loaded strictly, gives
the source's four stage outputs to 1e-5 in fp32, eval mode. The depth-50
architectures go through files and the public function (the first of each
family through the script too, which must write the same file); the deeper
ones through :func:`convert_state_dict` in memory (the same mapping, without
writing 170-240 MB per test). Run with ``-s`` to see the max abs diffs.
"""
import runpy
import sys
from pathlib import Path

import pytest
import torch

from mmattn.converters import (FAMILIES, build_backbone, convert_checkpoint, convert_state_dict,
                               load_checkpoint_file, published_backbone)
from .sources import (INPUT_SIZE, SCSA_CFG, SOURCES, OfficialTriplet, SourceResNet, randomize,
                      save_checkpoint)

REPO = Path(__file__).resolve().parents[2]
TOL = 1e-5
# The SCSA-ResNet-101 test checkpoint was trained (its meta['cfg'] says) with other SCSA
# settings than the official ones: the converter must carry them into the backbone.
SETTINGS_OVERRIDES = {('scsa', 'resnet101_scsa'): SCSA_CFG['resnet101_scsa']}


def _archs():
    return [(f, a) for f, fam in sorted(FAMILIES.items()) for a in sorted(fam.archs)]


def _id(item):
    return f'{item[0]}-{item[1]}'


def test_every_published_architecture_has_a_test_model():
    """A layout added to the table is tested here without anyone editing this file."""
    assert set(SOURCES) == set(_archs())


def _stage_diff(source, backbone, size, name):
    x = torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected, got = source(x), backbone(x)
    assert len(got) == 4
    diffs = []
    for e, g in zip(expected, got):
        assert e.shape == g.shape
        diffs.append(float((e - g).abs().max()))
    line = (f'{name}: max abs diff {max(diffs):.2e} over 4 stages '
            f'(outputs up to {max(float(e.abs().max()) for e in expected):.2f})')
    assert max(diffs) <= TOL, (line, diffs)
    return line


def _load(report, state):
    cfg = dict(report.backbone, out_indices=(0, 1, 2, 3))
    backbone = build_backbone(cfg, report.scope, device='meta')
    backbone.load_state_dict(state, strict=True, assign=True)
    backbone.eval()
    return backbone


def _run_script(family, argv):
    script = REPO / 'tools' / 'model_converters' / f'{family}2mmattn.py'
    old = sys.argv
    sys.argv = [str(script)] + argv
    try:
        with pytest.raises(SystemExit) as exit_info:
            runpy.run_path(str(script), run_name='__main__')
    finally:
        sys.argv = old
    return exit_info.value.code


@pytest.mark.parametrize('item', _archs(), ids=_id)
def test_converted_backbone_equals_the_source(item, tmp_path, capsys):
    family, arch = item
    factory, fmt = SOURCES[item]
    source = randomize(factory())
    size = INPUT_SIZE.get(item, 32)
    through_files = published_backbone(family, arch)[1]['depth'] == 50
    if not through_files:
        state, meta = _in_memory(source, family, arch, fmt, tmp_path)
        out, report = convert_state_dict(state, family, arch=arch, meta=meta)
        line = _stage_diff(source, _load(report, out), size, f'{family} {arch}')
    else:
        src = save_checkpoint(source, family, arch, fmt, str(tmp_path))
        dst = tmp_path / 'converted.pth'
        report = convert_checkpoint(src, str(dst), family, arch=arch)
        state, meta = load_checkpoint_file(str(dst))
        assert meta['arch'] == arch and meta['backbone'] == _plain(report.backbone)
        line = _stage_diff(source, _load(report, state), size, f'{family} {arch}')
    if through_files and arch == _script_arch(family):
        # The script (once per family) writes the same file and prints what it mapped and
        # dropped.
        capsys.readouterr()
        assert _run_script(family, [src, str(tmp_path / 'script.pth'), '--arch', arch]) == 0
        printed = capsys.readouterr().out
        assert 'mapped:' in printed and 'dropped:' in printed and 'wrote' in printed
        assert 'fc.weight' in printed or 'head.fc.weight' in printed
        again, _ = load_checkpoint_file(str(tmp_path / 'script.pth'))
        assert list(again) == list(state)
        assert all(torch.equal(again[k], state[k]) for k in state)
    print(f'\n{line}')
    # The classifier is dropped, nothing else.
    assert sorted(report.dropped) in (['fc.bias', 'fc.weight'], ['head.fc.bias', 'head.fc.weight'])
    # The implied backbone is the one the table (and the zoo's configs) give, with the
    # settings the checkpoint was trained with where they differ from the table's.
    scope, expected = published_backbone(family, arch)
    if item in SETTINGS_OVERRIDES:
        expected['plugins'][0]['cfg'].update(SETTINGS_OVERRIDES[item])
    assert (report.scope, report.backbone) == (scope, expected)


def _script_arch(family):
    """The family's first depth-50 architecture: the one converted by the script too."""
    return sorted(a for a, spec in FAMILIES[family].archs.items() if spec.depth == 50)[0]


def _in_memory(source, family, arch, fmt, tmp_path):
    """The state dict a file of ``fmt`` would give, without writing it (deep models)."""
    if fmt in ('mmpretrain', 'mmengine'):
        # These carry a classifier prefix and, for SCSA, the training config: use the file.
        return load_checkpoint_file(save_checkpoint(source, family, arch, fmt, str(tmp_path)))
    return dict(source.state_dict()), {}


def _plain(obj):
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_plain(v) for v in obj]
    return obj


@pytest.mark.parametrize('item, backbone_type', [
    (('timm', 'resnet50'), 'PluginResNetV1b'),
    (('timm', 'ecaresnet50d'), 'PluginResNetV1d'),
    (('timm', 'seresnext50_32x4d'), 'ResNeXt'),
    (('cbam', 'resnet50_cbam'), 'PluginResNetV1b'),
], ids=lambda v: v if isinstance(v, str) else _id(v))
def test_segmentation_backbones_equal_the_source(item, backbone_type):
    """mmseg targets: the plain stem as PluginResNetV1b, ResNet-D as PluginResNetV1d."""
    family, arch = item
    source = randomize(SOURCES[item][0]())
    out, report = convert_state_dict(dict(source.state_dict()), family, arch=arch, task='seg')
    assert report.scope == 'mmseg' and report.backbone['type'] == backbone_type
    # mmseg's own arguments (strides, dilations) at their ImageNet values.
    name = f'{family} {arch} -> mmseg {backbone_type}'
    print('\n' + _stage_diff(source, _load(report, out), 32, name))


def test_triplet_attention_with_the_newer_names_equals_the_source():
    """The repository's root triplet_attention.py names the gates cw/hc/hw (AttentionGate.conv)."""
    source = randomize(SourceResNet((3, 4, 6, 3), attn_name='triplet_attention',
                                    attn=lambda c, s: OfficialTriplet(c, 'new', k=3)))
    assert 'layer1.0.triplet_attention.cw.conv.conv.weight' in source.state_dict()
    out, report = convert_state_dict(dict(source.state_dict()), 'triplet')
    assert report.backbone['plugins'][0]['cfg'] == dict(type='TripletAttention', kernel_size=3)
    name = 'triplet ResNet-50 (cw/hc/hw names, k=3)'
    print('\n' + _stage_diff(source, _load(report, out), 32, name))


@pytest.mark.parametrize('item, stock', [(('timm', 'seresnet50'), 'ResNet'),
                                         (('eca', 'eca_resnet50'), 'ResNet'),
                                         (('timm', 'ecaresnet50d'), 'ResNetV1d')],
                         ids=lambda v: v if isinstance(v, str) else _id(v))
def test_the_file_loads_into_mmdets_own_resnet_with_the_same_plugins(item, stock):
    """The converted keys are mmdet's: its stock ResNet / ResNetV1d with the plugins loads them."""
    family, arch = item
    source = randomize(SOURCES[item][0]())
    out, report = convert_state_dict(dict(source.state_dict()), family, arch=arch)
    cfg = dict(type=stock, depth=50, plugins=report.backbone['plugins'],
               out_indices=(0, 1, 2, 3))
    out2, report2 = convert_state_dict(dict(source.state_dict()), family, arch=arch,
                                       backbone=cfg, scope='mmdet')
    assert list(out2) == list(out)
    print('\n' + _stage_diff(source, _load(report2, out2), 32, f'{family} {arch} -> mmdet {stock}'))
