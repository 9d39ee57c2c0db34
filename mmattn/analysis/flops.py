"""FLOP counting that sees the cost of attention.

mmengine's :class:`~mmengine.analysis.FlopAnalyzer` (fvcore's counter) traces
the module with ``torch.jit.trace`` and counts convolutions, linear layers,
matrix products and norms only: ``scaled_dot_product_attention``, softmax,
pooling, gating multiplications and activations count as zero, and those are
what attention modules are made of. :func:`count_flops` adds a handle for each
of them, every one following a rule stated below and in :data:`FLOP_RULES`.

Unit: one FLOP is one multiply-add (the convention of mmengine, fvcore and
mmdet's ``get_flops``, so convolution counts are unchanged and comparable with
published ones), or one other arithmetic operation on one element (an add, a
multiply, an exponential, a comparison). Multiply by two for the
"multiply and add are two FLOPs" convention (exact for the matrix terms,
which dominate).

The rules, in the symbols of each op's shapes (``numel`` is the number of
elements; ``out`` is the op's first output, ``in`` its first input):

* convolution (mmengine's rule, unchanged): ``B * prod(weight.shape) *
  prod(out spatial)`` multiply-adds; the bias add is not counted.
* ``linear``/``addmm`` (mmengine's): ``numel(in) * out_features``; bias not
  counted.
* ``matmul``/``mm``/``bmm``: ``prod(broadcast batch) * M * K * N``.
  ``baddbmm``/``addbmm``/``addmv``: the same plus 1 per output element for
  the added tensor.
* ``einsum`` of two operands: the product of the sizes of all distinct
  indices (one multiply-add per term); other operand counts: mmengine's rule.
* ``scaled_dot_product_attention`` and its fused variants (query
  ``[..., L, E]``, key ``[..., S, E]``, value ``[..., S, Ev]``, ``N`` = the
  product of the leading dims): ``N*L*S*E`` (Q K^T) + ``N*L*S*Ev`` (A V) +
  ``6*N*L*S`` (1 for the scale, 5 for the softmax) + ``N*L*S`` if a mask is
  added. Dropout is not counted.
* ``softmax``/``log_softmax``: 5 per element (max, subtract, exp, sum,
  divide).
* elementwise ops (add, sub, mul, div, sigmoid, relu, gelu, hardswish, tanh,
  exp, clamp, where, comparisons...): 1 per output element. ``addcmul``,
  ``addcdiv``, ``lerp``: 2.
* reductions (mean, sum, amax, amin, max/min along a dim, argmax, prod): 1 per
  input element; ``var``/``std``/``norm``: 2; ``logsumexp``: 3.
* pooling with a fixed window (avg/max pool 1d/2d): window size per output
  element; adaptive pooling: 1 per input element.
* ``batch_norm`` (mmengine's): 1 per element, 2 with affine, in eval (it folds
  into the previous layer); 5 (4 without affine) in training.
  ``layer_norm``/``group_norm``/``instance_norm`` (mmengine's): 5 per element,
  4 without affine.
* upsampling (mmengine's): nearest 1, bilinear 4 per output element.
* data movement (views, reshapes, permutes, copies, cat, split, pad, index,
  repeat, tensor creation): 0.

An op with no rule is listed in the result's ``unsupported`` counter, never
silently counted as zero.
"""
import math
import typing
from collections import Counter
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch.nn as nn
from mmengine.analysis import FlopAnalyzer
from mmengine.analysis.jit_handles import einsum_flop_jit, get_shape
from torch import Tensor

Handle = Callable[[List[Any], List[Any]], Union[int, typing.Counter[str]]]


def _numel(value: Any) -> int:
    shape = get_shape(value)
    return int(math.prod(shape)) if shape is not None else 0


def _is_tensor(value: Any) -> bool:
    return get_shape(value) is not None


def _per_output(ops: float) -> Handle:
    def handle(inputs: List[Any], outputs: List[Any]) -> int:
        return int(ops * _numel(outputs[0]))
    return handle


def _per_input(ops: float) -> Handle:
    def handle(inputs: List[Any], outputs: List[Any]) -> int:
        return int(ops * _numel(inputs[0]))
    return handle


def _zero(inputs: List[Any], outputs: List[Any]) -> int:
    return 0


def matmul_flops(a_shape: Sequence[int], b_shape: Sequence[int]) -> int:
    """Multiply-adds of ``a @ b`` with torch.matmul's broadcasting rules."""
    a, b = list(a_shape), list(b_shape)
    if len(a) == 1:
        a = [1] + a
    if len(b) == 1:
        b = b + [1]
    m, k = a[-2:]
    n = b[-1]
    batch = np.broadcast_shapes(tuple(a[:-2]), tuple(b[:-2]))
    return int(math.prod(batch)) * m * k * n


def _matmul_handle(inputs: List[Any], outputs: List[Any]) -> int:
    return matmul_flops(get_shape(inputs[0]), get_shape(inputs[1]))


def _baddbmm_handle(inputs: List[Any], outputs: List[Any]) -> int:
    # inputs: self (the added tensor), batch1, batch2, beta, alpha
    return matmul_flops(get_shape(inputs[1]), get_shape(inputs[2])) + _numel(outputs[0])


def sdpa_flops(q_shape: Sequence[int], k_shape: Sequence[int], v_shape: Sequence[int],
               masked: bool = False) -> int:
    """The rule for scaled dot-product attention, from the three input shapes."""
    *lead, length, e = q_shape
    s = k_shape[-2]
    ev = v_shape[-1]
    n = int(math.prod(np.broadcast_shapes(tuple(lead), tuple(k_shape[:-2]))))
    scores = n * length * s
    return scores * e + scores * ev + 6 * scores + (scores if masked else 0)


def _sdpa_handle(inputs: List[Any], outputs: List[Any]) -> int:
    # Every variant starts with query, key, value; the public op's 4th input
    # is attn_mask (None when absent), the fused ones take no additive mask
    # except the efficient/cudnn kernels' attn_bias, also the 4th.
    masked = len(inputs) > 3 and _is_tensor(inputs[3])
    return sdpa_flops(get_shape(inputs[0]), get_shape(inputs[1]), get_shape(inputs[2]), masked)


def _einsum_handle(inputs: List[Any], outputs: List[Any]) -> Union[int, Any]:
    equation = inputs[0].toIValue().replace(' ', '')
    operands = list(inputs[1].node().inputs())
    shapes = [get_shape(v) for v in operands]
    lhs = equation.split('->')[0].split(',')
    if len(shapes) == 2 and all(s is not None for s in shapes) and '.' not in equation:
        sizes: Dict[str, int] = {}
        for subs, shape in zip(lhs, shapes):
            sizes.update(zip(subs, shape))
        return int(math.prod(sizes.values()))
    return einsum_flop_jit(inputs, outputs)


def _max_min_handle(inputs: List[Any], outputs: List[Any]) -> int:
    # aten::max(a, b) is elementwise; aten::max(x) / max(x, dim) reduce.
    if len(inputs) > 1 and _is_tensor(inputs[1]):
        return _numel(outputs[0])
    return _numel(inputs[0])


def _int_list(value: Any) -> Optional[List[int]]:
    """A constant int or int list argument of a traced op (None if not constant)."""
    ivalue = value.toIValue()
    if ivalue is None and value.node().kind() == 'prim::ListConstruct':
        ivalue = [v.toIValue() for v in value.node().inputs()]
    if isinstance(ivalue, int):
        ivalue = [ivalue]
    if not isinstance(ivalue, (list, tuple)) or not all(isinstance(i, int) for i in ivalue):
        return None
    return list(ivalue)


def _pool_handle(inputs: List[Any], outputs: List[Any]) -> int:
    kernel = _int_list(inputs[1])
    if kernel is None:  # a window that is not a constant: 1 per input element
        return _numel(inputs[0])
    return int(math.prod(kernel)) * _numel(outputs[0])


_ELEMENTWISE = (
    'add', 'sub', 'rsub', 'mul', 'div', 'true_divide', 'neg', 'abs', 'reciprocal', 'sqrt', 'rsqrt',
    'pow', 'square', 'exp', 'log', 'log2', 'sin', 'cos', 'sigmoid', 'tanh', 'relu', 'relu6',
    'leaky_relu', 'elu', 'selu', 'celu', 'gelu', 'silu', 'mish', 'softplus', 'hardswish',
    'hardsigmoid', 'hardtanh', 'clamp', 'clamp_min', 'clamp_max', 'maximum', 'minimum',
    'where', 'masked_fill', 'eq', 'ne', 'lt', 'le', 'gt', 'ge', 'sign', 'floor', 'ceil',
    'round', 'floor_divide', 'remainder', 'fmod', 'logical_and', 'logical_or', 'logical_not',
    'bitwise_not', '__and__', '__or__', 'erf', 'glu', 'prelu')
_ELEMENTWISE_2 = ('addcmul', 'addcdiv', 'lerp')
_REDUCTIONS = ('mean', 'sum', 'amax', 'amin', 'argmax', 'argmin', 'prod', 'cumsum',
               'any', 'all')
_REDUCTIONS_2 = ('var', 'std', 'var_mean', 'std_mean', 'norm', 'linalg_vector_norm',
                 'frobenius_norm')
_SDPA = ('scaled_dot_product_attention', '_scaled_dot_product_attention_math',
         '_scaled_dot_product_flash_attention', '_scaled_dot_product_flash_attention_for_cpu',
         '_scaled_dot_product_efficient_attention', '_scaled_dot_product_cudnn_attention',
         '_scaled_dot_product_fused_attention_overrideable')
_DATA_MOVEMENT = (
    'view', 'view_as', 'reshape', 'reshape_as', 'flatten', 'unflatten', 'squeeze', 'unsqueeze',
    'permute', 'transpose', 't', 'contiguous', 'clone', 'copy_', 'detach', 'to', 'type_as',
    'cat', 'concat', 'stack', 'split', 'split_with_sizes', 'chunk', 'unbind', 'narrow',
    'slice', 'select', 'index', 'index_select', 'gather', 'expand', 'expand_as', 'repeat',
    'repeat_interleave', 'tile', 'roll', 'flip', 'pad', 'constant_pad_nd', 'reflection_pad2d',
    'replicate_pad2d', 'zeros', 'zeros_like', 'ones', 'ones_like', 'empty', 'empty_like',
    'full', 'full_like', 'new_zeros', 'new_ones', 'new_empty', 'new_full', 'arange',
    'linspace', 'meshgrid', 'dropout', 'feature_dropout', 'alpha_dropout', 'unfold',
    'im2col', 'pixel_shuffle', 'pixel_unshuffle', 'channel_shuffle', 'tril', 'triu',
    'diagonal', 'diag', 'diag_embed', 'eye', 'masked_select', 'index_put_', 'fill_', 'zero_',
    'resolve_conj', 'resolve_neg', 'lift_fresh', 'alias', 'numpy_T', 'movedim', 'swapaxes',
    'as_strided', 'scatter', 'nonzero', 'size', 'dim', 'Int', 'Float',
    'ScalarImplicit', 'IntImplicit', 'NumToTensor')


def _variants(names: Sequence[str]) -> List[str]:
    """``aten::x`` and its in-place ``aten::x_``."""
    ops = []
    for name in names:
        ops += [f'aten::{name}', f'aten::{name}_']
    return ops


def flop_handles() -> Dict[str, Optional[Handle]]:
    """The op handles mmattn adds to mmengine's defaults (see the module docstring)."""
    handles: Dict[str, Optional[Handle]] = {}
    for op in _variants(_DATA_MOVEMENT):
        handles[op] = _zero
    for op in _variants(_ELEMENTWISE):
        handles[op] = _per_output(1)
    for op in _variants(_ELEMENTWISE_2):
        handles[op] = _per_output(2)
    for op in _variants(_REDUCTIONS):
        handles[op] = _per_input(1)
    for op in _variants(_REDUCTIONS_2):
        handles[op] = _per_input(2)
    handles['aten::logsumexp'] = _per_input(3)
    for name in ('max', 'min'):
        handles[f'aten::{name}'] = _max_min_handle
    for name in ('softmax', 'log_softmax', '_softmax', '_log_softmax'):
        handles[f'aten::{name}'] = _per_input(5)
    for name in ('matmul', 'mm', 'bmm'):
        handles[f'aten::{name}'] = _matmul_handle
    for name in ('baddbmm', 'addbmm'):
        handles[f'aten::{name}'] = _baddbmm_handle
    handles['aten::einsum'] = _einsum_handle
    for name in _SDPA:
        handles[f'aten::{name}'] = _sdpa_handle
    for name in ('avg_pool1d', 'avg_pool2d', 'avg_pool3d', 'max_pool1d', 'max_pool2d',
                 'max_pool3d', 'max_pool2d_with_indices'):
        handles[f'aten::{name}'] = _pool_handle
    for name in ('adaptive_avg_pool1d', 'adaptive_avg_pool2d', 'adaptive_avg_pool3d',
                 'adaptive_max_pool1d', 'adaptive_max_pool2d', 'adaptive_max_pool3d'):
        handles[f'aten::{name}'] = _per_input(1)
    return handles


#: The rules as a table, (ops, rule), the source of :func:`flop_rules_markdown`.
FLOP_RULES: List[Tuple[str, str]] = [
    ('unit', 'one multiply-add = 1 FLOP (mmengine/fvcore/mmdet convention); any other '
     'arithmetic op on one element = 1 FLOP'),
    ('convolution', 'B x prod(weight shape) x prod(output spatial size); bias not counted '
     '(mmengine)'),
    ('linear, addmm', 'numel(input) x out_features; bias not counted (mmengine)'),
    ('matmul, mm, bmm', 'prod(broadcast batch dims) x M x K x N'),
    ('baddbmm, addbmm', 'as bmm, + 1 per output element'),
    ('einsum (2 operands)', 'product of the sizes of all distinct indices'),
    ('scaled_dot_product_attention (+ fused variants)',
     'N·L·S·E (QKᵀ) + N·L·S·Ev (AV) + 6·N·L·S (scale 1, softmax 5) [+ N·L·S with a mask]; '
     'q [N, L, E], k [N, S, E], v [N, S, Ev]'),
    ('softmax, log_softmax', '5 per element (max, subtract, exp, sum, divide)'),
    ('elementwise: add, sub, mul, div, sigmoid, relu, gelu, hardswish, tanh, exp, clamp, '
     'where, comparisons, ...', '1 per output element (addcmul, addcdiv, lerp: 2)'),
    ('reductions: mean, sum, amax, amin, max/min over a dim, argmax, prod',
     '1 per input element (var, std, norm: 2; logsumexp: 3)'),
    ('avg/max pool with a window', 'window size per output element'),
    ('adaptive avg/max pool', '1 per input element'),
    ('batch_norm', 'eval: 1 per element, 2 with affine; train: 5, 4 without affine (mmengine)'),
    ('layer_norm, group_norm, instance_norm', '5 per element, 4 without affine (mmengine)'),
    ('upsample nearest / bilinear', '1 / 4 per output element (mmengine)'),
    ('views, reshapes, permutes, copies, cat, split, pad, index, repeat, creation', '0'),
]


def flop_rules_markdown() -> str:
    """:data:`FLOP_RULES` as a markdown table, ready for docs/cost.md."""
    lines = ['| op | FLOPs counted |', '|---|---|']
    lines += [f'| {ops} | {rule} |' for ops, rule in FLOP_RULES]
    return '\n'.join(lines)


def count_flops(module: nn.Module, inputs: Union[Tensor, Tuple[Any, ...]],
                extra_handles: bool = True) -> Dict[str, Any]:
    """Trace ``module`` on ``inputs`` and count its FLOPs by the stated rules.

    Args:
        module (nn.Module): The module (traced in its current train/eval mode).
        inputs (Tensor or tuple): Its positional inputs.
        extra_handles (bool): Add mmattn's handles; False gives mmengine's
            default count, the one that misses attention. Default: True.

    Returns:
        dict: ``total`` (int), ``by_operator`` (dict op -> FLOPs) and
        ``unsupported`` (dict op -> number of calls counted as zero because no
        rule covers them).
    """
    if isinstance(inputs, Tensor):
        inputs = (inputs, )
    analyzer = FlopAnalyzer(module, inputs)
    if extra_handles:
        analyzer.set_op_handle(**flop_handles())
    analyzer.unsupported_ops_warnings(False)
    analyzer.uncalled_modules_warnings(False)
    analyzer.tracer_warnings('none')
    total = int(analyzer.total())
    return dict(
        total=total,
        by_operator={k: int(v) for k, v in sorted(analyzer.by_operator().items())},
        unsupported=dict(sorted(Counter(analyzer.unsupported_ops()).items())))


__all__ = ['FLOP_RULES', 'count_flops', 'flop_handles', 'flop_rules_markdown', 'matmul_flops',
           'sdpa_flops']
