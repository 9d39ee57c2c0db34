"""mmattn's names resolve everywhere a config can name them, and collide with nothing.

mmcv 2.x registers its bricks and ops straight into mmengine's root ``MODELS``, as
mmattn does: a clash there is a KeyError at import time, in whichever order the
packages are imported. mmdet and mmseg register into child registries: a clash
there would silently shadow mmattn's module inside their configs.
"""
import mmcv.cnn  # noqa: F401  registers mmcv's bricks
import mmcv.ops  # noqa: F401  registers mmcv's compiled-op layers
import mmdet.models  # noqa: F401
import mmseg.models  # noqa: F401
import pytest
from mmcv.cnn import build_plugin_layer
from mmdet.registry import MODELS as MMDET_MODELS
from mmengine.registry import MODELS as ROOT_MODELS
from mmengine.registry import DefaultScope
from mmseg.registry import MODELS as MMSEG_MODELS

import mmattn
from mmattn import SE
from mmattn.registry import MODELS as MMATTN_MODELS
from tests.conftest import run_fresh_python


def _all_registries(registry):
    yield registry
    for child in registry.children.values():
        yield from _all_registries(child)


def _mmattn_names():
    return {name for name, obj in ROOT_MODELS.module_dict.items()
            if getattr(obj, '__module__', '').split('.')[0] == 'mmattn'}


def test_mmattn_registers_into_the_root_and_nowhere_else():
    names = _mmattn_names()
    assert 'SE' in names
    assert set(mmattn.__all__) >= names
    # mmattn's own scope node holds nothing: it only routes `mmattn.X` to the root.
    assert len(MMATTN_MODELS.module_dict) == 0
    assert MMATTN_MODELS.parent is ROOT_MODELS and MMATTN_MODELS.scope == 'mmattn'


def test_no_name_collides_with_mmdet_mmseg_child_registries():
    names = _mmattn_names()
    scopes = {r.scope for r in _all_registries(ROOT_MODELS)}
    assert {'mmdet', 'mmseg', 'mmattn'} <= scopes
    for registry in _all_registries(ROOT_MODELS):
        if registry is ROOT_MODELS:
            continue
        clash = names & set(registry.module_dict)
        assert not clash, f'{sorted(clash)} also registered in scope {registry.scope!r}'


@pytest.mark.parametrize('imports', [
    'import mmattn, mmcv.cnn, mmcv.ops, mmdet.models, mmseg.models',
    'import mmcv.cnn, mmcv.ops, mmdet.models, mmseg.models, mmattn',
], ids=['mmattn-first', 'mmattn-last'])
def test_no_name_collides_with_mmcv_in_the_root(imports):
    # A second registration of a name in the root raises KeyError, so both
    # import orders succeeding proves mmcv (bricks and compiled ops) and mmattn
    # register disjoint names; the listing shows both really are in the root.
    out = run_fresh_python(f'{imports}\n'
                           'from mmengine.registry import MODELS\n'
                           'owners = {getattr(v, "__module__", "").split(".")[0]\n'
                           '          for v in MODELS.module_dict.values()}\n'
                           'print(sorted(owners & {"mmattn", "mmcv"}))')
    assert out.strip() == "['mmattn', 'mmcv']"


@pytest.mark.parametrize('registry', [ROOT_MODELS, MMDET_MODELS, MMSEG_MODELS, MMATTN_MODELS],
                         ids=lambda r: r.scope)
@pytest.mark.parametrize('key', ['SE', 'mmattn.SE'])
def test_lookup_from_every_scope(registry, key):
    assert registry.get(key) is SE
    module = registry.build(dict(type=key, in_channels=32))
    assert isinstance(module, SE) and module.in_channels == 32


@pytest.mark.parametrize('scope', ['mmdet', 'mmseg'])
@pytest.mark.parametrize('key', ['SE', 'mmattn.SE'])
def test_build_plugin_layer_resolves(scope, key):
    # mmcv's build_plugin_layer looks the type up in the default scope's registry,
    # which is how mmdet's and mmseg's ResNet bottlenecks build their plugins.
    with DefaultScope.overwrite_default_scope(scope):
        name, layer = build_plugin_layer(dict(type=key), in_channels=64, postfix='_1')
    assert name == 'se_1'  # the name a Bottleneck gives the layer: _abbr_ + postfix
    assert isinstance(layer, SE)


def test_build_plugin_layer_resolves_without_a_default_scope():
    # In-process, an earlier test may have set a default scope for good
    # (init_default_scope): only a new interpreter is sure to have none.
    out = run_fresh_python(
        'import mmattn\n'
        'from mmcv.cnn import build_plugin_layer\n'
        'from mmengine.registry import DefaultScope\n'
        'assert DefaultScope.get_current_instance() is None\n'
        'for key in ("SE", "mmattn.SE"):\n'
        '    name, layer = build_plugin_layer(dict(type=key), in_channels=64, postfix="_1")\n'
        '    print(name, type(layer).__name__)\n')
    assert out.splitlines() == ['se_1 SE', 'se_1 SE']


def test_import_mmattn_registers_se_in_a_fresh_interpreter():
    out = run_fresh_python('import mmattn\n'
                           'from mmengine.registry import MODELS\n'
                           'print(MODELS.get("SE").__module__)')
    assert out.strip() == 'mmattn.models.attentions.se'


def test_scoped_name_resolves_without_importing_mmattn():
    # mmengine imports `mmattn.registry` for the `mmattn.` prefix; its `locations`
    # then import the modules.
    out = run_fresh_python('import sys\n'
                           'from mmdet.registry import MODELS\n'
                           'm = MODELS.build(dict(type="mmattn.SE", in_channels=32))\n'
                           'print(type(m).__module__, "mmattn" in sys.modules)')
    assert out.split() == ['mmattn.models.attentions.se', 'True']
