"""The shared config and argument checkers: what each accepts, and the sentence for what not."""
import math

import pytest
import torch
import torch.nn as nn

from mmattn.models.utils import (build_act, build_norm, check_act_cfg, check_conv_cfg,
                                 check_int_sequence, check_norm_cfg, check_number,
                                 check_probability, check_tensor)
from tests.conftest import cpu_half_dtypes


@pytest.mark.parametrize('cfg,error,match', [
    ('ReLU', TypeError, r"M: act_cfg must be a config dict such as dict\(type='ReLU'\), got "
                        r"'ReLU' of type str"),
    (None, TypeError, r'M: act_cfg=None is not allowed: the module needs an activation'),
    (dict(type='NoSuchAct'), ValueError, r"M: act_cfg type 'NoSuchAct' is not registered"),
    (dict(type='Relu'), ValueError, r"M: act_cfg type 'Relu' is not registered .* closest "
                                    r"registered names: 'ReLU'"),
    (dict(type='ReLU', slope=1), ValueError, r"cannot be built into an activation \(TypeError"),
    (dict(type='Conv2d'), ValueError, r'cannot be built into an activation'),
])
def test_act_cfg_errors(cfg, error, match):
    with pytest.raises(error, match=match):
        check_act_cfg('M', 'act_cfg', cfg)


def test_act_cfg_accepts_what_mmcv_builds_and_copies_it():
    cfg = dict(type='LeakyReLU', negative_slope=0.1)
    checked = check_act_cfg('M', 'act_cfg', cfg)
    assert checked == cfg and checked is not cfg
    assert isinstance(build_act('M', 'act_cfg', dict(type='HSwish')), nn.Module)
    assert check_act_cfg('M', 'act_cfg', None, allow_none=True) is None


@pytest.mark.parametrize('cfg,layout,match', [
    (dict(type='LN'), 'map', 'cannot normalise'),
    (dict(type='BN1d'), 'map', 'cannot normalise'),
    (dict(type='BN'), 'profile', 'cannot normalise'),
    (dict(type='IN'), 'profile', 'misreads'),
    (dict(type='IN'), 'vector', 'cannot normalise'),  # PyTorch refuses one value
    (dict(type='GN', num_groups=8), 'vector', 'erases'),
    (dict(type='GN', num_groups=3), 'map', 'cannot be built for 8 channels'),
    (dict(type='GN'), 'map', 'cannot be built for 8 channels'),
])
def test_norm_cfg_refuses_what_the_layout_cannot_take(cfg, layout, match):
    with pytest.raises(ValueError, match=match) as info:
        check_norm_cfg('M', 'norm_cfg', cfg, 8, layout)
    assert str(info.value).startswith(f'M: norm_cfg={cfg!r}')
    with pytest.raises(ValueError, match="M: norm_cfg type 'NoSuchNorm' is not registered"):
        check_norm_cfg('M', 'norm_cfg', dict(type='NoSuchNorm'), 8, layout)


@pytest.mark.parametrize('cfg,layout', [
    (dict(type='BN'), 'map'), (dict(type='BN'), 'vector'), (dict(type='SyncBN'), 'vector'),
    (dict(type='GN', num_groups=4), 'map'), (dict(type='GN', num_groups=4), 'vector'),
    (dict(type='IN'), 'map'), (dict(type='BN1d'), 'profile'), (dict(type='LN'), 'features'),
])
def test_norm_cfg_accepts_what_the_layout_can_take(cfg, layout):
    bn = build_norm('M', 'norm_cfg', cfg, 8, layout)
    assert isinstance(bn, nn.Module) and bn.training


def test_checks_run_on_cpu_whatever_the_default_device():
    # Converters and large-model tools build networks under torch.device('meta').
    with torch.device('meta'):
        layer = build_norm('M', 'norm_cfg', dict(type='BN'), 8)
        act = build_act('M', 'act_cfg', dict(type='ReLU'))
        check_conv_cfg('M', 'conv_cfg', dict(type='Conv2d'))
    assert layer.weight.is_meta and isinstance(act, nn.ReLU)


def test_conv_cfg():
    assert check_conv_cfg('M', 'conv_cfg', None) is None
    with pytest.raises(TypeError, match=r"M: conv_cfg must be a config dict"):
        check_conv_cfg('M', 'conv_cfg', 'Conv2d')
    with pytest.raises(ValueError, match=r"M: conv_cfg type 'Nope' is not registered"):
        check_conv_cfg('M', 'conv_cfg', dict(type='Nope'))
    with pytest.raises(ValueError, match=r"M: conv_cfg=\{'type': 'Conv2d', 'bias': 3, 'x': 1\} "
                                         r'cannot be built into a 2D convolution'):
        check_conv_cfg('M', 'conv_cfg', dict(type='Conv2d', bias=3, x=1))


@pytest.mark.parametrize('value,error,match', [
    ('0.1', TypeError, r"M: p must be a probability in \[0, 1\), got '0.1' of type str"),
    (None, TypeError, 'got None'),
    (True, TypeError, 'got True'),
    (math.nan, ValueError, r'M: p=nan must be in \[0, 1\)'),
    (1.0, ValueError, r'M: p=1.0 must be in \[0, 1\) \(a dropout probability; 1 would'),
    (-0.1, ValueError, r'M: p=-0.1 must be in'),
])
def test_probability(value, error, match):
    with pytest.raises(error, match=match):
        check_probability('M', 'p', value)
    assert check_probability('M', 'p', 0) == 0.0


def test_numbers_and_sequences():
    assert check_number('M', 'g', 2) == 2.0
    for bad in (math.inf, -math.inf, math.nan):
        with pytest.raises(ValueError, match=f'M: g={bad} must be a finite number'):
            check_number('M', 'g', bad)
    with pytest.raises(ValueError, match='M: g=0 must be > 0'):
        check_number('M', 'g', 0, low=0, low_inclusive=False)
    assert check_int_sequence('M', 'k', [3, 5]) == (3, 5)
    with pytest.raises(TypeError, match=r'M: k must be a non-empty sequence of ints \(one per '):
        check_int_sequence('M', 'k', 3)
    with pytest.raises(ValueError, match=r'M: k=\(3, 5\) must hold 4 ints'):
        check_int_sequence('M', 'k', (3, 5), length=4)
    with pytest.raises(TypeError, match=r'M: k\[1\] must be an int'):
        check_int_sequence('M', 'k', (3, 'x'))


@pytest.mark.parametrize('x,match', [
    ([1.0], 'M: input must be a torch.Tensor, got list'),
    (torch.ones(2, dtype=torch.int32), 'got dtype torch.int32'),
    (torch.ones(2, dtype=torch.bool), 'got dtype torch.bool'),
    (torch.ones(2, dtype=torch.complex64), 'got dtype torch.complex64'),
])
def test_tensor_rule(x, match):
    with pytest.raises(TypeError, match=match):
        check_tensor('M', x)
    for dtype in cpu_half_dtypes() + (torch.float32, torch.float64):
        check_tensor('M', torch.ones(2, dtype=dtype))
