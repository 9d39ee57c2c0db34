"""ASFF on levels that come coarsest first (YOLOv3's neck): the same fusion, reversed order."""
import pytest
import torch

from mmattn import ASFF


def test_coarsest_first_is_the_same_fusion_in_reverse():
    fine_first = ASFF([32, 48, 64], [16, 24, 40])
    coarse_first = ASFF([64, 48, 32], [40, 24, 16], coarsest_first=True)
    # Built finest first inside: the parameters are the same, name by name.
    coarse_first.load_state_dict(fine_first.state_dict(), strict=True)
    for m in (fine_first, coarse_first):
        m.eval()
    g = torch.Generator().manual_seed(0)
    feats = [torch.randn(2, c, s, s + 1, generator=g) for c, s in ((32, 20), (48, 10), (64, 5))]
    with torch.no_grad():
        outs, weights = fine_first(feats, return_weights=True)
        routs, rweights = coarse_first(feats[::-1], return_weights=True)
    assert [o.shape[1] for o in routs] == [40, 24, 16]
    for a, b in zip(outs, routs[::-1]):
        assert torch.equal(a, b)
    # weights[l][:, k]: the weight of input k (in the caller's order) at level l.
    for a, b in zip(weights, rweights[::-1]):
        assert torch.equal(a, b.flip(1))
    assert torch.allclose(rweights[0].sum(1), torch.ones(()))


def test_coarsest_first_must_be_a_bool():
    with pytest.raises(TypeError, match=r'ASFF: coarsest_first must be True or False, got 1'):
        ASFF([8, 8], 8, coarsest_first=1)
