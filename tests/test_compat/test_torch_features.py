"""mmattn.compat.torch_features: every torch API newer than the floor, found by feature, and
the only place mmattn reaches them."""
import ast
import io
import pathlib
import warnings

import pytest
import torch
import torch.nn.functional as F

import mmattn
from mmattn.compat import (FEATURES, TorchFeatureError, autocast_dtype, cpu_autocast_dtypes,
                           export_dim, is_compiling, is_exporting, missing, onnx_export, require,
                           scaled_dot_product_attention)

PACKAGE = pathlib.Path(mmattn.__file__).parent

# Attribute chains of torch newer than 2.1 (or whose behaviour changed after it): outside
# mmattn/compat, no file of the package may name them.
NEWER_THAN_FLOOR = (
    'torch.compiler.is_compiling', 'torch.compiler.is_exporting', 'torch.cond',
    'torch.export.Dim', 'torch.sym_min', 'torch.serialization.add_safe_globals',
    'torch.nn.attention', 'torch.get_autocast_dtype', 'F.scaled_dot_product_attention',
    'torch.nn.functional.scaled_dot_product_attention', 'torch.onnx.export',
)


def _attribute_chains(tree):
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            parts = []
            while isinstance(node, ast.Attribute):
                parts.append(node.attr)
                node = node.value
            if isinstance(node, ast.Name):
                yield '.'.join([node.id] + parts[::-1])


def test_no_file_outside_compat_names_a_newer_torch_api():
    found = []
    for path in sorted(PACKAGE.rglob('*.py')):
        if path.parent.name == 'compat':
            continue
        for chain in set(_attribute_chains(ast.parse(path.read_text()))):
            if chain.startswith(NEWER_THAN_FLOOR):
                found.append(f'{path.relative_to(PACKAGE.parent)}: {chain}')
    assert not found, found


@pytest.mark.parametrize('feature', sorted(FEATURES))
def test_every_feature_is_detected_and_named(feature):
    sentence = missing(feature)
    if sentence is None:
        require(feature)
        return
    assert torch.__version__ in sentence and 'needs' in sentence
    with pytest.raises(TorchFeatureError) as info:
        require(feature, 'SomeModule')
    assert str(info.value) == f'SomeModule: {sentence}'


def test_the_newest_tested_torch_has_every_feature():
    if mmattn.compat.release(torch.__version__)[:2] < (2, 14):
        pytest.skip(f'torch {torch.__version__} is older than the newest tested')
    assert {f: missing(f) for f in FEATURES} == {f: None for f in FEATURES}


def test_compiling_and_exporting_are_false_in_eager():
    assert not is_compiling() and not is_exporting()


def test_export_dim_or_a_sentence():
    if missing('dynamic torch.export') is None:
        assert export_dim('H').__name__ == 'H'
    else:
        with pytest.raises(TorchFeatureError, match='torch.export with dynamic sizes'):
            export_dim('H')


def test_autocast_dtypes():
    assert torch.bfloat16 in cpu_autocast_dtypes()
    with torch.autocast('cpu', dtype=torch.bfloat16):
        assert autocast_dtype('cpu') == torch.bfloat16


@pytest.mark.parametrize('scale', [None, 1.0, 0.3])
@pytest.mark.parametrize('masked', [False, True])
def test_sdpa_is_torch_s_and_exports_to_onnx_on_every_torch(scale, masked):
    ort = pytest.importorskip('onnxruntime')
    q, k, v = torch.randn(2, 3, 5, 4), torch.randn(2, 3, 7, 4), torch.randn(2, 3, 7, 6)
    mask = torch.rand(5, 7) > 0.3 if masked else None
    if masked:
        mask[:, 0] = True  # no row fully masked
    ref = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=scale)
    torch.testing.assert_close(scaled_dot_product_attention(q, k, v, mask, scale=scale), ref)

    class Attend(torch.nn.Module):

        def forward(self, q, k, v):
            return scaled_dot_product_attention(q, k, v, mask, scale=scale)

    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        onnx_export(Attend(), (q, k, v), buf, opset_version=17, input_names=['q', 'k', 'v'])
    session = ort.InferenceSession(buf.getvalue(), providers=['CPUExecutionProvider'])
    (out, ) = session.run(None, {'q': q.numpy(), 'k': k.numpy(), 'v': v.numpy()})
    torch.testing.assert_close(torch.from_numpy(out), ref, rtol=1e-5, atol=1e-5)


def test_autocast_disabled_where_the_device_has_autocast():
    """Off on the CPU; on the meta device, which torch.autocast refuses, a context that does
    nothing (DANet's float32 regions run there)."""
    from mmattn.compat import autocast_disabled
    with torch.autocast('cpu', dtype=torch.bfloat16):
        with autocast_disabled('cpu'):
            assert not torch.is_autocast_cpu_enabled()
        assert torch.is_autocast_cpu_enabled()
        with autocast_disabled('meta'):
            assert torch.is_autocast_cpu_enabled()  # untouched
