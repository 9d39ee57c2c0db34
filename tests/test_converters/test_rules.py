"""The sources' own rules against mmattn's: ECA kernel sizes, SE hidden widths.

Where a source's rule differs from mmattn's, the converter must still give
the same function: it reads kernels and widths from the weights, writes them
into the backbone config where mmattn's default would differ, and refuses
what mmattn's arguments cannot express.
"""
import pytest

from mmattn import SE
from mmattn.converters.from_mmpretrain import mmpretrain_se_hidden
from mmattn.converters.from_timm import timm_eca_kernel, timm_se_hidden
from mmattn.converters.modules import config_args
from mmattn.models.attentions.eca import eca_kernel_size
from .sources import divisible, timm_eca_k

# Every channel count a module of a converted ResNet sees: after conv3 (256-2048, where all
# the sources' SE and ECA sit) and after conv2 (64-512 in a ResNet, 128-1024 in a ResNeXt).
AFTER_CONV3 = (256, 512, 1024, 2048)
RESNET_CHANNELS = (64, 128) + AFTER_CONV3


def test_eca_kernel_rules_differ_only_below_8_channels():
    """timm floors its kernel at 3; mmattn (and the paper's code) do not."""
    differ = [c for c in range(1, 8193) if timm_eca_k(c) != eca_kernel_size(c)]
    assert differ == list(range(1, 8))
    assert [timm_eca_k(c) for c in differ] == [3] * 7
    assert [eca_kernel_size(c) for c in differ] == [1, 1, 1, 1, 1, 1, 1]
    # The converter's copy of timm's rule is timm's rule.
    assert all(timm_eca_kernel(c) == timm_eca_k(c) for c in range(1, 8193))
    # At a ResNet's channel counts the two agree: 3, 5, 5, 5, 5, 7.
    assert [eca_kernel_size(c) for c in RESNET_CHANNELS] == [3, 5, 5, 5, 5, 7]
    assert [timm_eca_k(c) for c in RESNET_CHANNELS] == [3, 5, 5, 5, 5, 7]


def test_eca_kernel_is_always_written_into_the_config():
    """A checkpoint's kernel is fixed: the official ECA-Net50 has 3 where the rule gives 5."""
    assert config_args('ECA', dict(kernel_size=3), 256, {}) == dict(kernel_size=3)
    assert config_args('ECA', dict(kernel_size=5), 256, {}) == dict(kernel_size=5)


def test_se_hidden_widths_agree_after_conv3_and_differ_at_64_channels():
    for c in AFTER_CONV3:
        assert timm_se_hidden(c) == divisible(c / 16, 8, round_limit=0.) == c // 16
        assert mmpretrain_se_hidden(c) == divisible(c // 16, 8) == c // 16
        assert SE(c).hidden_channels == c // 16
    # At 64 channels (after conv2 of stage 1) both round 4 up to 8, mmattn keeps 4: a
    # checkpoint with SE there converts with reduction=8 (next test).
    assert timm_se_hidden(64) == mmpretrain_se_hidden(64) == 8 != SE(64).hidden_channels


@pytest.mark.parametrize('channels, hidden, expected', [
    (256, 16, {}),  # the default reduction
    (64, 8, dict(reduction=8)),  # timm's / mmpretrain's rounding at 64 channels
    (256, 32, dict(reduction=8)),
    (48, 8, dict(reduction=6)),  # timm's rounding at 48 channels: 8, not 48 // 16 = 3
])
def test_se_hidden_width_becomes_a_reduction(channels, hidden, expected):
    assert config_args('SE', dict(hidden=hidden, bias=True), channels, {}) == expected
    reduction = expected.get('reduction', 16)
    assert SE(channels, reduction=reduction).hidden_channels == hidden


def test_a_hidden_width_no_reduction_gives_is_refused():
    # mmpretrain rounds 72 // 16 = 4 up to 8; 72 // r is 8 for no integer r (72 // 9 = 8!).
    assert config_args('SE', dict(hidden=8, bias=True), 72, {}) == dict(reduction=9)
    with pytest.raises(ValueError, match=r'a SE with hidden width 24 at 56 channels has no mmattn '
                       r'equivalent: its hidden width is in_channels // reduction, and no '
                       r'reduction gives 24'):
        config_args('SE', dict(hidden=24, bias=True), 56, {})
