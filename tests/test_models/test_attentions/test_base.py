"""The module contract as a class: facts on the class, read everywhere from there.

Adding a module is one file, its test file and one import line: a module registered here,
in the test, is found by every sweep over the modules (the contract tests' list, the
default places, the zoo and its tables, the benchmark, the spec grammar) without any
table being edited.
"""
import pytest
import torch

from mmattn.analysis.modules import default_specs
from mmattn.config import paper_placements, parse_module_spec
from mmattn.models import (SE, STAGE_4, AttentionBase, AttentionModule, DualAttention,
                           list_attention_modules)
from mmattn.registry import ROOT_MODELS
from mmattn.zoo import module_table, zoo_configs, zoo_files


@pytest.fixture
def toy_module():
    """A small gate registered for one test, then removed from the registry."""

    class ToyGate(AttentionModule):
        """A toy channel gate: ``x * sigmoid(mean(x) / t)``."""

        paper = 'A Toy Gate, 2026'
        paper_url = 'https://example.org/toy-gate'
        short_name = 'toy'
        family = 'toy_gate'
        default_position = 'after_conv3'
        default_stages = STAGE_4
        _abbr_ = 'toy_gate'

        def __init__(self, in_channels: int, temperature: float = 2.0, init_cfg=None):
            super().__init__(in_channels, init_cfg=init_cfg)
            self.temperature = temperature

        def forward(self, x):
            self.check_input(x)
            return x * torch.sigmoid(x.mean((2, 3), keepdim=True) / self.temperature)

    ROOT_MODELS.register_module(module=ToyGate)
    try:
        yield ToyGate
    finally:
        ROOT_MODELS._module_dict.pop('ToyGate')


def test_a_module_added_in_one_file_is_found_by_every_sweep(toy_module):
    assert list_attention_modules()['ToyGate'] is toy_module  # the contract tests' list
    place = paper_placements()['ToyGate']
    assert (place.short_name, place.position, place.stages) == ('toy', 'after_conv3', STAGE_4)
    paths = {c.path for c in zoo_configs() if c.module == 'ToyGate'}
    assert paths == {'toy_gate/faster-rcnn_r50-toy_fpn_1x_coco.py',
                     'toy_gate/retinanet_r50-toy_fpn_1x_coco.py',
                     'toy_gate/mask-rcnn_r50-toy_fpn_1x_coco.py',
                     'toy_gate/fcn_r50-d8-toy_4xb4-80k_ade20k-512x512.py'}
    files = zoo_files()
    assert 'A Toy Gate, 2026' in files['toy_gate/README.md']
    assert 'In Collection: ToyGate' in files['toy_gate/metafile.yml']
    assert "`dict(type='ToyGate', temperature=2.0)`" in module_table()
    assert 'ToyGate' in [s.name for s in default_specs()]  # the benchmark's default list
    assert parse_module_spec('ToyGate(temperature=1.0):after_conv2').args == {'temperature': 1.0}
    with pytest.raises(ValueError, match="ToyGate has no argument 'temp'"):
        parse_module_spec('ToyGate(temp=1.0)')
    with pytest.raises(ValueError, match=r'ToyGate: expected an input of shape \(B, 8, H, W\)'):
        toy_module(8)(torch.randn(1, 4, 3, 3))


def test_defaults_are_read_from_the_constructor():
    assert SE.defaults() == dict(reduction=16, min_channels=1, bias=True,
                                 act_cfg=dict(type='ReLU'), gate_cfg=dict(type='Sigmoid'))


def test_every_registered_module_states_its_facts():
    for layout in ('BCHW', 'BNC', 'BCNT'):
        for name, cls in list_attention_modules(layout).items():
            assert issubclass(cls, AttentionBase) and cls.name == name
            assert cls.paper and cls.paper_url.startswith('https://'), name
            assert cls.short_name and cls.family and cls._abbr_, name
            assert (cls.placement() is None) == (layout != 'BCHW'), name
            assert issubclass(cls, AttentionModule) == (layout == 'BCHW'), name


def test_messages_name_the_module_the_user_built():
    with pytest.raises(ValueError, match=r'^DualAttention: reduction=0 must be >= 1'):
        DualAttention(16, reduction=0)
    with pytest.raises(ValueError, match=r'^DualAttention: expected an input'):
        DualAttention(16)(torch.randn(1, 8, 2, 2))
