"""Converted timm checkpoints compute what timm's own models compute.

Beside the test-local transcriptions of ``sources.py`` (which run on every stack), each
architecture of the ``timm`` family is built by the real ``timm.create_model`` (random
weights and BN statistics, no download), its state dict converted, and the mmattn backbone
loaded strictly from it gives timm's four stage outputs (``forward_intermediates``) to 1e-5.
timm needs torchvision, which the default stack has (``make setup`` installs
``mmattn[timm]``) and the oldest one does not: there the test skips.
"""
import pytest
import torch

from mmattn.converters import FAMILIES, build_backbone, convert_state_dict
from .sources import randomize

timm = pytest.importorskip('timm', reason='timm is not installed (it needs torchvision)')

TOL = 1e-5


@pytest.mark.parametrize('arch', sorted(FAMILIES['timm'].archs))
def test_converted_backbone_equals_timm_s_model(arch):
    model = randomize(timm.create_model(arch, pretrained=False))
    out, report = convert_state_dict(dict(model.state_dict()), 'timm', arch=arch)
    assert sorted(report.dropped) == ['fc.bias', 'fc.weight']
    cfg = dict(report.backbone, out_indices=(0, 1, 2, 3))
    backbone = build_backbone(cfg, report.scope, device='meta')
    backbone.load_state_dict(out, strict=True, assign=True)
    backbone.eval()
    x = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = model.forward_intermediates(x, indices=[1, 2, 3, 4], intermediates_only=True)
        got = backbone(x)
    assert len(got) == 4
    for stage, (e, g) in enumerate(zip(expected, got), 1):
        assert e.shape == g.shape, (stage, e.shape, g.shape)
        diff = float((e - g).abs().max())
        assert diff <= TOL, f'{arch} stage {stage}: max abs diff {diff:.2e}'
