"""The dtype a module computes its sensitive parts in (softmax, energies, pooled statistics)."""
import torch


def accumulation_dtype(dtype: torch.dtype) -> torch.dtype:
    """At least float32: float16 and bfloat16 are raised to float32, float64 stays float64.

    Softmaxes, attention energies and sums over many positions are computed in
    this dtype, so half-precision inputs stay finite and accurate and double
    precision inputs are not rounded to single precision on the way.
    """
    return torch.promote_types(dtype, torch.float32)
