"""The one module-spec grammar: parsed strictly (nothing is evaluated), its arguments checked
against the module's constructor when parsed, and the one builder of a spec."""
import pytest
import torch

from mmattn.config import ModuleSpec, build_module, parse_module_spec
from mmattn.models.utils import UnknownTypeError


def test_specs_with_arguments_positions_and_stages():
    assert parse_module_spec('CBAM') == ModuleSpec('CBAM', None, None, {}, 'CBAM')
    spec = parse_module_spec('SE(reduction=8):after_conv2:0011')
    assert spec == ModuleSpec('SE', 'after_conv2', (False, False, True, True), {'reduction': 8},
                              'SE(reduction=8):after_conv2:0011')
    spec = parse_module_spec("mmattn.CBAM(norm_cfg=dict(type='GN', num_groups=4), "
                             "kernel_size=3, gate_cfg=None)::01")
    assert spec.type == 'mmattn.CBAM' and spec.position is None and spec.stages == (False, True)
    assert spec.args == dict(norm_cfg=dict(type='GN', num_groups=4), kernel_size=3,
                             gate_cfg=None)
    assert parse_module_spec('SK(kernels=(3, 5), dilations=[1, -1])').args == dict(
        kernels=(3, 5), dilations=[1, -1])
    # The sweep-wide --position/--stages fill what the spec leaves out; the spec wins.
    assert parse_module_spec('SE', 'after_conv1', '1111')[1:3] == ('after_conv1', (True, ) * 4)
    assert parse_module_spec('SE:after_conv2:0001', 'after_conv1', '1111')[1:3] == (
        'after_conv2', (False, False, False, True))


@pytest.mark.parametrize('spec, match', [
    ("SE(__import__('os').system('true'))", 'keyword=value pairs'),
    ("SE(reduction=__import__('os'))", "argument value \"__import__\\('os'\\)\" is not a literal"),
    ('SE(reduction=open)', 'is not a literal'),
    ('SE(8)', 'keyword=value pairs'),
    ('SE(**x)', 'keyword=value pairs'),
    ('SE(reduction=dict(**x))', r'dict\(\*\*...\) is not allowed'),
    ('SE(in_channels=8)', 'in_channels is set by the insertion point'),
    ('SE(reduction=8', 'must be TYPE'),
    ('CBAM:after_conv4', "module spec 'CBAM:after_conv4': position 'after_conv4' must be one of"),
    ('CBAM::01a1', 'digits 0/1'),
    ('CBAM:after_conv3:0111:x', 'must be TYPE'),
    (':after_conv3', 'must be TYPE'),
])
def test_bad_specs_say_what_is_wrong_and_nothing_is_evaluated(spec, match):
    with pytest.raises(ValueError, match=match):
        parse_module_spec(spec)


@pytest.mark.parametrize('spec, match', [
    ('SE(reduction_ratio=8)', r"SE has no argument 'reduction_ratio' \(closest: reduction\); "
                              r'its arguments are reduction, min_channels, bias, act_cfg, '
                              r'gate_cfg'),
    ('CBAM(kernel=3)', r"CBAM has no argument 'kernel' \(closest: kernel_size\)"),
    ('DANetPAM(impl="plain", heads=2)', r"DANetPAM has no argument 'heads'"),
])
def test_an_argument_the_module_does_not_take_fails_when_parsed(spec, match):
    with pytest.raises(ValueError, match=match):
        parse_module_spec(spec)


def test_an_unknown_type_fails_when_parsed_with_the_closest_names():
    with pytest.raises(UnknownTypeError, match=r"module type 'CBMA' is not registered.*'CBAM'"):
        parse_module_spec('CBMA:after_conv3')


def test_a_module_of_another_package_is_checked_against_its_constructor_too():
    assert parse_module_spec('ContextBlock(ratio=0.25)').args == dict(ratio=0.25)
    with pytest.raises(ValueError, match="ContextBlock has no argument 'reduction'"):
        parse_module_spec('ContextBlock(reduction=4)')


def test_the_builder_builds_the_spec_and_names_unknown_types():
    module = build_module('SE(reduction=4)', 16)
    assert module.hidden_channels == 4 and module(torch.randn(1, 16, 3, 3)).shape == (1, 16, 3, 3)
    with pytest.raises(UnknownTypeError, match='closest registered names'):
        build_module(ModuleSpec('SEE', None, None, {}, 'SEE'), 16)
