"""The one-value rule of mmattn.models.utils.norm: what a norm computes where its statistics
would see a single value per channel, and that it runs the layer itself everywhere else."""
import copy

import pytest
import torch
import torch.nn as nn
from mmcv.cnn import ConvModule

from mmattn.models.utils import conv_module_forward, norm_forward


def _bn(cls=nn.BatchNorm2d, channels=4, **kwargs):
    bn = cls(channels, **kwargs)
    with torch.no_grad():
        if bn.weight is not None:
            bn.weight.uniform_(0.5, 2)
            bn.bias.normal_()
        if bn.running_mean is not None:
            bn.running_mean.normal_()
            bn.running_var.uniform_(0.5, 2)
    return bn.train()


@pytest.mark.parametrize('shape', [(1, 4, 1, 1), (0, 4, 3, 3), (1, 4)], ids=str)
def test_batch_norm_with_one_value_per_channel_uses_its_running_statistics(shape):
    bn = _bn(nn.BatchNorm1d if len(shape) == 2 else nn.BatchNorm2d)
    with pytest.raises(ValueError, match='Expected more than 1 value') if shape[0] else \
            torch.no_grad():
        bn(torch.randn(shape))  # PyTorch refuses one value (an empty batch it takes)
    before = copy.deepcopy(bn.state_dict())
    x = torch.randn(shape, requires_grad=True)
    y = norm_forward(bn, x)
    # The inference-time function of the layer...
    torch.testing.assert_close(y, copy.deepcopy(bn).eval()(x))
    # ...with every buffer left as it was (num_batches_tracked too), and gradients through it.
    for key, value in bn.state_dict().items():
        torch.testing.assert_close(value, before[key], msg=key)
    y.sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    assert bn.weight.grad is not None and torch.isfinite(bn.weight.grad).all()
    assert bn.training


def test_batch_norm_with_more_values_runs_the_layer():
    bn = _bn()
    ref = copy.deepcopy(bn)
    for shape in [(2, 4, 1, 1), (1, 4, 2, 1)]:
        x = torch.randn(shape)
        torch.testing.assert_close(norm_forward(bn, x), ref(x))
        torch.testing.assert_close(bn.running_var, ref.running_var)
    assert bn.num_batches_tracked == 2


def test_eval_mode_is_the_layer():
    bn = _bn().eval()
    x = torch.randn(1, 4, 1, 1)
    torch.testing.assert_close(norm_forward(bn, x), bn(x))


@pytest.mark.parametrize('norm', [
    nn.GroupNorm(4, 4),
    nn.InstanceNorm2d(4, affine=True),
    nn.BatchNorm2d(4, track_running_stats=False),
], ids=['GN', 'IN', 'BN-untracked'])
def test_norms_without_running_statistics_give_their_bias_on_one_value(norm):
    # What they compute at inference too: one value minus its own mean is 0.
    with torch.no_grad():
        norm.weight.uniform_(0.5, 2)
        norm.bias.normal_()
    x = torch.randn(1, 4, 1, 1)
    y = norm_forward(norm.train(), x)
    # (GroupNorm's kernel leaves x - mean at rounding level, not exactly 0.)
    torch.testing.assert_close(y, norm.bias.detach().view(1, 4, 1, 1).expand_as(y), atol=1e-3,
                               rtol=0)


def test_instance_norm_with_running_statistics_uses_them():
    norm = _bn(nn.InstanceNorm2d, affine=True, track_running_stats=True)
    x = torch.randn(2, 4, 1, 1)
    torch.testing.assert_close(norm_forward(norm, x), copy.deepcopy(norm).eval()(x))


def test_group_norm_equals_the_layer_where_the_layer_works():
    gn = nn.GroupNorm(2, 4)
    with torch.no_grad():
        gn.weight.normal_()
        gn.bias.normal_()
    x = torch.randn(3, 4, 5, 2)
    torch.testing.assert_close(norm_forward(gn, x), gn(x))


def test_other_layers_are_called_as_they_are():
    ln = nn.LayerNorm(4)
    x = torch.randn(1, 4)
    torch.testing.assert_close(norm_forward(ln, x), ln(x))
    identity = nn.Identity()
    assert norm_forward(identity, x) is x


@pytest.mark.parametrize('act_cfg', [dict(type='ReLU'), None])
def test_conv_module_forward_equals_the_module_and_falls_back_on_one_value(act_cfg):
    conv = ConvModule(4, 6, 1, norm_cfg=dict(type='BN'), act_cfg=act_cfg)
    with torch.no_grad():
        conv.bn.running_mean.normal_()
    x = torch.randn(2, 4, 3, 3)
    torch.testing.assert_close(conv_module_forward(conv, x), copy.deepcopy(conv)(x))
    one = torch.randn(1, 4, 1, 1)
    torch.testing.assert_close(conv_module_forward(conv, one), copy.deepcopy(conv).eval()(one))
    plain = ConvModule(4, 6, 1, norm_cfg=None)
    torch.testing.assert_close(conv_module_forward(plain, x), plain(x))
