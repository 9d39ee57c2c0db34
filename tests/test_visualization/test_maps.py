"""What each module shows: the maps it declares (``_maps_``), collected by forward hooks.

Registry-wide (``list_attention_modules()``, so a module added later is checked without
anyone touching this file): every module gives at least one map, every map it declares
is recorded, in the range its math promises (gates in [0, 1], softmax maps summing to 1
over the declared dims), readable in its kind's canonical layout, and is the tensor the
forward consumes (changing it through the hook changes the output).

Per module: the module's output is rebuilt from the captured maps and the module's own
sub-layers, in float64, and each map equals the intermediate tensor recomputed through
the sub-layers (or, for the maps formed on demand, a naive full attention matrix).
"""
import pytest
import torch

from mmattn import ASFF, list_attention_modules
from mmattn.models.utils import AttentionMap, declared_maps
from mmattn.models.utils.attention_map import MAP_KINDS, MAP_RANGES
from mmattn.visualization import AttentionMapCollector, find_attention_modules, to_canonical
from tests.test_models.test_attentions.helpers import randomize

MODULES = list_attention_modules()
NAMES = sorted(MODULES)
CANDIDATE_CHANNELS = (8, 16, 32, 64)
B, H, W = 2, 7, 6
QUERIES = [(0.1, 0.2), (0.5, 0.5), (0.95, 0.9)]


def _channels(name):
    for c in CANDIDATE_CHANNELS:
        try:
            MODULES[name](c)
        except ValueError:
            continue
        return c
    raise AssertionError(f'{name} accepts none of {CANDIDATE_CHANNELS}')


def build(name, seed=0):
    """The module with defaults and random weights (zero-initialised scales would hide
    what the maps do), float64, eval mode; and an input for it."""
    c = _channels(name)
    torch.manual_seed(seed)
    module = randomize(MODULES[name](c), std=0.3).double().eval()
    x = torch.randn(B, c, H, W, dtype=torch.double)
    return module, x


def collect(module, x):
    with AttentionMapCollector(module) as collector, torch.no_grad():
        y = module(x)
    return y, collector.records()


@pytest.mark.parametrize('name', NAMES)
def test_every_module_shows_maps_it_declares(name):
    module, x = build(name)
    found = find_attention_modules(module)
    assert found, f'{name} declares no map (_maps_), nor does any module inside it'
    _, records = collect(module, x)
    recorded = {(r.module_name, r.map_name) for r in records}
    declared = {(path, key) for path, m in found.items() for key in declared_maps(m)}
    assert recorded == declared
    for path, m in found.items():
        for key, spec in declared_maps(m).items():
            assert spec.kind in MAP_KINDS and spec.range in MAP_RANGES, (key, spec)
            assert spec.series in ('mean', 'split'), (key, spec)
            if spec.source:
                assert isinstance(m.get_submodule(spec.source), torch.nn.Module)
            if spec.derive:
                assert callable(getattr(m, spec.derive)), (key, spec.derive)
            if spec.range == 'softmax':
                assert spec.over and set(spec.over) <= set(spec.layout), (key, spec)


@pytest.mark.parametrize('name', NAMES)
def test_maps_keep_the_range_their_math_promises(name):
    module, x = build(name)
    _, records = collect(module, x)
    for r in records:
        value = r.value(QUERIES)
        spec = r.spec
        assert value.dim() == len(spec.layout), (r.name, tuple(value.shape), spec.layout)
        for letter, size in zip(spec.layout, value.shape):
            expected = {'B': B, 'H': H, 'W': W, 'Q': len(QUERIES), '1': 1}.get(letter)
            assert expected is None or size == expected, (r.name, spec.layout, value.shape)
        canonical, _ = to_canonical(value, spec)
        assert canonical.shape[0] == B
        assert torch.isfinite(value).all(), r.name
        if spec.range in ('gate', 'softmax'):
            assert value.min() >= 0 and value.max() <= 1, r.name
        if spec.range == 'softmax':
            dims = [spec.layout.index(letter) for letter in spec.over]
            total = value.sum(dims)
            # Some softmaxes run in float32 whatever the input (CoT, DANet): 1e-6.
            torch.testing.assert_close(total, torch.ones_like(total), rtol=0, atol=1e-6)


@pytest.mark.parametrize('name', NAMES)
def test_maps_are_the_tensors_the_forward_consumes(name):
    """A hook that hands the forward a changed map changes the output: the probe is on the
    path the output is computed from, not a side copy."""
    module, x = build(name)
    with torch.no_grad():
        ref = module(x)
    for path, m in find_attention_modules(module).items():
        for key, spec in declared_maps(m).items():
            if not spec.source:  # the module's own input: on the path by definition
                continue
            source = m.get_submodule(spec.source)
            handle = source.register_forward_hook(lambda mod, args, out: out * 0.5 + 0.1)
            try:
                with torch.no_grad():
                    changed = module(x)
            finally:
                handle.remove()
            assert not torch.allclose(changed, ref), f'{path}.{key} does not reach the output'
            with torch.no_grad():
                torch.testing.assert_close(module(x), ref, rtol=0, atol=0)


def test_the_probe_is_a_stateless_identity():
    probe = AttentionMap()
    x = torch.randn(2, 3)
    assert probe(x) is x
    assert not list(probe.parameters()) and not list(probe.buffers())
    assert probe.state_dict() == {}


def test_shared_module_calls_are_numbered():
    # One module applied to three levels (AttentionNeck's share=True): one map per call.
    module, x = build('SE')
    with AttentionMapCollector(module) as collector, torch.no_grad():
        for level in range(3):
            module(x[:, :, :level + 2])
    names = [r.name for r in collector.records()]
    assert names == ['channel_gate[0]', 'channel_gate[1]', 'channel_gate[2]']
    collector.clear()
    assert collector.records() == []


def test_asff_fusion_weights_are_its_returned_weights():
    torch.manual_seed(0)
    asff = randomize(ASFF(in_channels=[8, 16, 32], out_channels=8), std=0.3).eval()
    feats = [torch.randn(2, c, s, s + 1) for c, s in ((8, 12), (16, 6), (32, 3))]
    with AttentionMapCollector(asff) as collector, torch.no_grad():
        outs, weights = asff(feats, return_weights=True)
    maps = collector.maps()
    assert list(maps) == [f'fusion_weights[{level}]' for level in range(3)]
    for level, weight in enumerate(weights):
        torch.testing.assert_close(maps[f'fusion_weights[{level}]'], weight, rtol=0, atol=0)
        torch.testing.assert_close(weight.sum(1), torch.ones_like(weight[:, 0]))


# ---------------------------------------------------------------------------------------
# Per module: the output rebuilt from the maps; each map recomputed through sub-layers.


def _maps(records):
    return {r.name: r for r in records}


def _full_rows(record):
    """A query map's rows for every position: ``[B, ..., N, N]``."""
    h, w = record.captured.shape[-2:]
    with torch.no_grad():
        rows = getattr(record.module, record.spec.derive)(record.captured,
                                                          torch.arange(h * w))
    return rows.flatten(-2)


def check_se(m, x, y, maps):
    g = maps['channel_gate'].captured
    torch.testing.assert_close(g, m.gate(m.fc2(m.act(m.fc1(x.mean((2, 3), keepdim=True))))))
    torch.testing.assert_close(y, x * g)


def check_eca(m, x, y, maps):
    g = maps['channel_gate'].captured
    torch.testing.assert_close(g, m.gate(m.conv(x.mean((2, 3)).unsqueeze(1))))
    torch.testing.assert_close(y, x * g.view(B, -1, 1, 1))


def check_cbam(m, x, y, maps):
    cg, sg = maps['channel_gate'].captured, maps['spatial_gate'].captured
    mlp = lambda s: m.fc2(m.act(m.fc1(s)))  # noqa: E731
    torch.testing.assert_close(cg, m.channel_gate(mlp(x.mean((2, 3), keepdim=True))
                                                  + mlp(x.amax((2, 3), keepdim=True))))
    xc = x * cg
    d = torch.cat([xc.mean(1, keepdim=True), xc.amax(1, keepdim=True)], 1)
    torch.testing.assert_close(sg, m.spatial_gate(m.spatial_norm(m.spatial_conv(d))))
    torch.testing.assert_close(y, xc * sg)


def check_coord_attention(m, x, y, maps):
    a_h, a_w = maps['h_gate'].captured, maps['w_gate'].captured
    z = m.act(m.bn1(m.conv1(torch.cat([x.mean(3), x.mean(2)], 2).unsqueeze(3))))
    torch.testing.assert_close(a_h, m.gate(m.conv_h(z[:, :, :H])))
    torch.testing.assert_close(a_w, m.gate(m.conv_w(z[:, :, H:])).transpose(2, 3))
    torch.testing.assert_close(y, x * a_h * a_w)


def check_triplet_attention(m, x, y, maps):
    cw, hc, hw = (maps[k].captured for k in ('cw_gate', 'hc_gate', 'hw_gate'))
    zpool = lambda t, d: torch.stack([t.amax(d), t.mean(d)], 1)  # noqa: E731
    torch.testing.assert_close(cw, m.gate(m.cw(zpool(x, 2))))  # [B, 1, C, W]
    torch.testing.assert_close(hc, m.gate(m.hc(zpool(x, 3).transpose(2, 3))))  # [B, 1, H, C]
    torch.testing.assert_close(hw, m.gate(m.hw(zpool(x, 1))))  # [B, 1, H, W]
    gates = cw.transpose(1, 2) + hc.permute(0, 3, 2, 1) + hw
    torch.testing.assert_close(y, x * gates / 3)


def check_scsa(m, x, y, maps):
    a_h, a_w = maps['h_gate'].captured, maps['w_gate'].captured
    attn, cg = maps['channel_attention'].captured, maps['channel_gate'].captured
    torch.testing.assert_close(a_h, m._profile_gate(x.mean(3), m.norm_h).unsqueeze(3))
    torch.testing.assert_close(a_w, m._profile_gate(x.mean(2), m.norm_w).unsqueeze(2))
    s = x * a_h * a_w
    pooled = m.norm(m._down_sample(s))
    shape = (B, m.head_num, m.head_dim, -1)
    q, k, v = (conv(pooled).reshape(shape) for conv in (m.q, m.k, m.v))
    torch.testing.assert_close(attn, (q @ k.transpose(2, 3) * m.scale).softmax(-1))
    torch.testing.assert_close(cg, m.ca_gate((attn @ v.mean(3, keepdim=True)).reshape(B, -1,
                                                                                      1, 1)))
    torch.testing.assert_close(y, s * cg)


def check_sk(m, x, y, maps):
    a = maps['branch_weights'].captured  # [B, M, C, 1, 1]
    feats = [conv(x) for conv in m.convs]
    s = sum(f.mean((2, 3), keepdim=True) for f in feats)
    logits = m.fc_select(m.fc_reduce(s)).view(B, m.num_branches, -1, 1, 1)
    torch.testing.assert_close(a, logits.softmax(1))
    torch.testing.assert_close(y, sum(f * a[:, i] for i, f in enumerate(feats)))


def check_polarized_self_attention(m, x, y, maps):
    cg, sg = maps['channel_gate'].captured, maps['spatial_gate'].captured
    # The paper's order of operations (the module reassociates them).
    q = m.ch_wq(x).flatten(1).softmax(1).view(B, 1, H, W)
    z = m.ch_wz((m.ch_wv(x) * q).sum((2, 3), keepdim=True))
    torch.testing.assert_close(cg, m.gate(m.ln(z.flatten(1))).view(B, -1, 1, 1))
    q = m.sp_wq(x.mean((2, 3), keepdim=True)).softmax(1)  # [B, C/2, 1, 1]
    torch.testing.assert_close(sg, m.gate((q * m.sp_wv(x)).sum(1, keepdim=True)))
    torch.testing.assert_close(y, x * (cg + sg))


def check_danet_pam(m, x, y, maps, prefix=''):
    rec = maps[prefix + 'query_attention']
    torch.testing.assert_close(rec.captured, x)
    q, k = m.query_conv(x).flatten(2), m.key_conv(x).flatten(2)  # [B, D, N]
    s = (q.transpose(1, 2) @ k).softmax(-1)  # [B, N, N]
    rows = _full_rows(rec)
    torch.testing.assert_close(rows, s)
    # The rows of the query pixels of QUERIES, as the figures ask for them.
    index = [min(int(v * H), H - 1) * W + min(int(u * W), W - 1) for u, v in QUERIES]
    torch.testing.assert_close(rec.value(QUERIES).flatten(2), s[:, index])
    return (m.value_conv(x).flatten(2) @ rows.transpose(1, 2)).view_as(x) * m.gamma


def check_danet_cam(m, x, y, maps, prefix=''):
    # DANetCAM forms its energies and softmax in float32 whatever the input's dtype.
    a = maps[prefix + 'channel_attention'].captured.double()
    feat = x.flatten(2)
    torch.testing.assert_close(a, (-(feat @ feat.transpose(1, 2))).softmax(-1), rtol=1e-5,
                               atol=1e-6)
    return (a @ feat).view_as(x) * m.gamma


def check_danet_pam_output(m, x, y, maps):
    torch.testing.assert_close(y, x + check_danet_pam(m, x, y, maps))


def check_danet_cam_output(m, x, y, maps):
    torch.testing.assert_close(y, x + check_danet_cam(m, x, y, maps), rtol=1e-5, atol=1e-6)


def check_dual_attention(m, x, y, maps):
    term_p = check_danet_pam(m.pam, x, y, maps, 'pam.')
    term_c = check_danet_cam(m.cam, x, y, maps, 'cam.')
    torch.testing.assert_close(y, x + term_p + term_c, rtol=1e-5, atol=1e-6)


def check_fully_attention(m, x, y, maps):
    a_w = maps['column_attention'].value()  # [B, W, C, C]
    a_h = maps['row_attention'].value()  # [B, H, C, C]
    ctx_h = m.row_proj(x.mean(3).transpose(1, 2))  # [B, H, C]
    ctx_w = m.col_proj(x.mean(2).transpose(1, 2))  # [B, W, C]
    cols, rows = x.permute(0, 3, 1, 2), x.permute(0, 2, 1, 3)  # [B, W, C, H], [B, H, C, W]
    torch.testing.assert_close(a_w, (cols @ ctx_h.unsqueeze(1)).softmax(-1))
    torch.testing.assert_close(a_h, (rows @ ctx_w.unsqueeze(1)).softmax(-1))
    aug = (a_w @ cols).permute(0, 2, 3, 1) + (a_h @ rows).permute(0, 2, 1, 3)
    torch.testing.assert_close(y, m.conv(x + m.gamma * aug))


def check_cot_attention(m, x, y, maps):
    att = maps['spatial_attention'].captured  # [B, C, H, W]
    k1 = m.key_embed(x)
    logits = m.attention_out(m.attention_embed(torch.cat([k1, x], 1)))  # [B, C*k*k, H, W]
    logits = logits.view(B, -1, m.kernel_size**2, H, W).mean(2)
    torch.testing.assert_close(att, logits.flatten(2).softmax(-1).view_as(att))
    torch.testing.assert_close(y, k1 + att * m.value_embed(x))


def check_scale_aware_modulation(m, x, y, maps):
    mod = maps['modulator'].captured  # [B, C, H, W]
    nhwc = x.permute(0, 2, 3, 1)
    s = m.s(nhwc).permute(0, 3, 1, 2).split(m.head_channels, 1)
    s = torch.stack([conv(h) for conv, h in zip(m.local_convs, s)], 2)  # [B, C/h, heads, H, W]
    s = m.proj0(s.flatten(1, 2))  # channel g of every head side by side, as SMT regroups
    torch.testing.assert_close(mod, m.proj1(m.act(m.bn(s))))
    torch.testing.assert_close(y, m.proj(mod.permute(0, 2, 3, 1) * m.v(nhwc)).permute(0, 3, 1, 2))


def check_multi_head_self_attention2d(m, x, y, maps):
    rec = maps['query_attention']
    tokens = x.flatten(2).transpose(1, 2)  # [B, N, C]
    q, k, v = m.qkv(tokens).view(B, H * W, 3, m.num_heads, -1).permute(2, 0, 3, 1, 4)
    a = (q @ k.transpose(2, 3) / m.head_channels**0.5).softmax(-1)  # [B, heads, N, N]
    rows = _full_rows(rec)
    torch.testing.assert_close(rows, a)
    out = m.proj((rows @ v).transpose(1, 2).reshape(B, H * W, -1))
    torch.testing.assert_close(y, x + out.transpose(1, 2).view_as(x))


CHECKS = {
    'SE': check_se,
    'ECA': check_eca,
    'CBAM': check_cbam,
    'CoordAttention': check_coord_attention,
    'TripletAttention': check_triplet_attention,
    'SCSA': check_scsa,
    'SK': check_sk,
    'PolarizedSelfAttention': check_polarized_self_attention,
    'DANetPAM': check_danet_pam_output,
    'DANetCAM': check_danet_cam_output,
    'DualAttention': check_dual_attention,
    'FullyAttention': check_fully_attention,
    'CoTAttention': check_cot_attention,
    'ScaleAwareModulation': check_scale_aware_modulation,
    'MultiHeadSelfAttention2d': check_multi_head_self_attention2d,
}


@pytest.mark.parametrize('name', sorted(CHECKS))
def test_maps_equal_the_module_intermediates_and_rebuild_the_output(name):
    module, x = build(name)
    y, records = collect(module, x)
    with torch.no_grad():
        CHECKS[name](module, x, y, _maps(records))
