"""FLOP rules of mmattn.analysis.flops on modules whose count is known by hand."""
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from mmattn import SE
from mmattn.analysis import count_flops, flop_rules_markdown, matmul_flops, sdpa_flops
from mmattn.registry import ROOT_MODELS


class _Fn(nn.Module):

    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, *args):
        return self.fn(*args)


def _count(fn, *inputs):
    return count_flops(_Fn(fn).eval(), tuple(inputs))


@pytest.mark.parametrize('shape', [(1, 64, 1, 1), (2, 64, 5, 7), (3, 32, 7, 9)])
def test_se_count_by_hand(shape):
    b, c, h, w = shape
    se = SE(c).eval()
    hidden = se.hidden_channels
    result = count_flops(se, torch.randn(shape))
    expected = dict(
        mean=b * c * h * w,  # reduction: 1 per input element
        conv=b * c * hidden + b * hidden * c,  # two 1x1 convs, bias not counted
        relu=b * hidden,  # elementwise: 1 per output element
        sigmoid=b * c,
        mul=b * c * h * w)
    assert result['by_operator'] == expected
    assert result['total'] == sum(expected.values())
    assert result['unsupported'] == {}
    # mmengine alone sees only the convolutions.
    assert count_flops(se, torch.randn(shape), extra_handles=False)['total'] == expected['conv']


def test_eca_count_by_hand():
    if ROOT_MODELS.get('ECA') is None or not ROOT_MODELS.get('ECA').__module__.startswith(
            'mmattn'):
        pytest.skip('ECA is not registered yet')
    b, c, h, w = 2, 64, 5, 7
    eca = ROOT_MODELS.build(dict(type='ECA', in_channels=c)).eval()
    convs = [m for m in eca.modules() if isinstance(m, (nn.Conv1d, nn.Conv2d))]
    assert len(convs) == 1
    k = convs[0].weight.shape[-1]
    result = count_flops(eca, torch.randn(b, c, h, w))
    # GAP, a 1D conv of k taps along C (one output per channel), sigmoid, scaling.
    assert result['total'] == b * c * h * w + b * c * k + b * c + b * c * h * w
    assert result['unsupported'] == {}


@pytest.mark.parametrize('a_shape,b_shape,batch', [
    ((3, 4, 5), (3, 5, 6), 3),
    ((2, 3, 4, 5), (5, 6), 6),
    ((4, 5), (2, 1, 5, 6), 2),
    ((5, ), (5, 6), 1),
])
def test_matmul_counts_broadcast_batches(a_shape, b_shape, batch):
    a, b = torch.randn(a_shape), torch.randn(b_shape)
    m = a_shape[-2] if len(a_shape) > 1 else 1
    expected = batch * m * a_shape[-1] * b_shape[-1]
    assert matmul_flops(a_shape, b_shape) == expected
    assert _count(torch.matmul, a, b)['total'] == expected


def test_bmm_einsum_baddbmm_linear():
    a, b = torch.randn(3, 4, 5), torch.randn(3, 5, 6)
    assert _count(torch.bmm, a, b)['total'] == 3 * 4 * 5 * 6
    assert _count(lambda x, y: torch.einsum('bij,bjk->bik', x, y), a, b)['total'] == 3 * 4 * 5 * 6
    # An einsum without a summed index: one multiply per output element.
    outer = _count(lambda x, y: torch.einsum('bi,bj->bij', x, y), a[:, 0], b[:, 0])
    assert outer['total'] == 3 * 5 * 6
    c = torch.randn(3, 4, 6)
    assert _count(torch.baddbmm, c, a, b)['total'] == 3 * 4 * 5 * 6 + 3 * 4 * 6
    linear = nn.Linear(5, 7)
    assert count_flops(linear, torch.randn(2, 3, 5))['total'] == 2 * 3 * 5 * 7


@pytest.mark.parametrize('masked', [False, True])
def test_sdpa_hand_formula(masked):
    n, heads, length, s, e, ev = 2, 3, 5, 7, 8, 4
    q, k, v = torch.randn(n, heads, length, e), torch.randn(n, heads, s, e), torch.randn(
        n, heads, s, ev)
    scores = n * heads * length * s
    expected = scores * e + scores * ev + 6 * scores + (scores if masked else 0)
    assert sdpa_flops(q.shape, k.shape, v.shape, masked) == expected
    if masked:
        mask = torch.randn(length, s)
        result = _count(lambda q, k, v, m: F.scaled_dot_product_attention(q, k, v, m), q, k, v,
                        mask)
    else:
        result = _count(F.scaled_dot_product_attention, q, k, v)
    assert result['total'] == expected
    assert result['unsupported'] == {}
    assert _count(F.scaled_dot_product_attention, q, k, v).get('total') > 0
    assert count_flops(_Fn(F.scaled_dot_product_attention), (q, k, v),
                       extra_handles=False)['total'] == 0


def test_softmax_pool_norm_reduction_rules():
    x = torch.randn(2, 3, 8, 10)
    assert _count(lambda t: t.softmax(-1), x)['total'] == 5 * x.numel()
    assert _count(lambda t: F.avg_pool2d(t, 3, 1, 1), x)['total'] == 9 * x.numel()
    assert _count(lambda t: F.max_pool2d(t, 2), x)['total'] == 4 * x.numel() // 4
    assert _count(lambda t: F.adaptive_avg_pool2d(t, 1), x)['total'] == x.numel()
    assert _count(lambda t: t.amax((2, 3)), x)['total'] == x.numel()
    assert _count(lambda t: t.max(1)[0], x)['total'] == x.numel()
    assert _count(lambda t: torch.max(t, t * 2), x)['total'] == 2 * x.numel()
    assert _count(lambda t: t.var(1), x)['total'] == 2 * x.numel()
    assert count_flops(nn.LayerNorm(10), x)['total'] == 5 * x.numel()
    assert count_flops(nn.GroupNorm(1, 3), x)['total'] == 5 * x.numel()
    assert _count(lambda t: F.hardswish(t) + torch.sigmoid(t), x)['total'] == 3 * x.numel()
    assert _count(lambda t: t.permute(0, 2, 3, 1).reshape(2, -1).contiguous(), x)['total'] == 0


def test_unknown_ops_are_listed_not_hidden():
    result = _count(torch.special.erfinv, torch.rand(4, 5) * 0.5)
    assert result['total'] == 0
    assert result['unsupported']
    assert set(result['unsupported']) <= {'aten::erfinv', 'aten::special_erfinv'}


def test_rules_table_is_markdown():
    table = flop_rules_markdown().splitlines()
    assert table[0] == '| op | FLOPs counted |'
    assert any('scaled_dot_product_attention' in line for line in table)
    assert all(line.startswith('|') and line.endswith('|') for line in table)
