"""Model mode: a config with and without its attention."""
import pytest

from mmattn.analysis import run_model, strip_attention
from tests.conftest import CONFIG_DIR

RETINANET_SE = CONFIG_DIR / 'det' / 'retinanet' / 'retinanet_r50-se_fpn_1x_coco.py'


def test_strip_plugins_and_wrappers():
    se = dict(cfg=dict(type='SE'), stages=(False, True, True, True), position='after_conv3')
    model = dict(type='RetinaNet', backbone=dict(type='ResNet', depth=50, plugins=[se]),
                 neck=dict(type='FPN', in_channels=[256, 512, 1024, 2048]))
    bare, removed = strip_attention(model)
    assert bare['backbone'] == dict(type='ResNet', depth=50, plugins=None)
    assert bare['neck'] == model['neck'] and removed == ['SE plugin']
    assert model['backbone']['plugins'] == [se]  # the input is not changed

    wrapped = dict(type='RetinaNet',
                   backbone=dict(type='mmattn.AttentionBackbone', attention=dict(type='CBAM'),
                                 backbone=dict(type='ResNet', depth=18)),
                   neck=[dict(type='AttentionNeck', attention=dict(type='SE'),
                              neck=dict(type='FPN', out_channels=256)),
                         dict(type='ASFF', in_channels=[256, 256, 256]),
                         dict(type='AttentionNeck', channels=256, attention=dict(type='SE'))])
    bare, removed = strip_attention(wrapped)
    assert bare['backbone'] == dict(type='ResNet', depth=18)
    assert bare['neck'] == dict(type='FPN', out_channels=256)
    assert sorted(removed) == ['ASFF', 'AttentionBackbone', 'AttentionNeck', 'AttentionNeck']
    only_attention = dict(type='RetinaNet', backbone=dict(type='ResNet'),
                          neck=dict(type='AttentionNeck', channels=256, attention=dict(type='SE')))
    assert strip_attention(only_attention)[0]['neck'] is None


@pytest.mark.integration
def test_retinanet_se_with_and_without():
    result = run_model(str(RETINANET_SE), size=(64, 96), batch_size=1, warmup=0, repeats=1,
                       max_time=0.0)
    with_se, without = result['rows']
    assert result['added_modules'] == {'SE': 13}
    assert result['removed'] == ['SE plugin']
    # SE(C) with r=16 and biases: 2*C*C/16 + C/16 + C; 4, 6 and 3 blocks of C=512, 1024, 2048.
    se_params = sum(n * (2 * c * (c // 16) + c // 16 + c)
                    for n, c in ((4, 512), (6, 1024), (3, 2048)))
    assert with_se['params'] - without['params'] == se_params
    assert result['share']['params'] == pytest.approx(se_params / with_se['params'])
    assert with_se['flops'] > without['flops'] > 0
    assert with_se['flops_mmengine'] > without['flops_mmengine']
    # mmattn's rules see the gates' pooling and scaling; mmengine's see only their 1x1 convs.
    assert (with_se['flops'] - without['flops']) > (
        with_se['flops_mmengine'] - without['flops_mmengine'])
    for row in (with_se, without):
        assert row['input_shape'] == [1, 3, 64, 96]
        for key in ('infer_median_ms', 'train_median_ms', 'infer_mem', 'train_mem'):
            assert row[key] > 0, key
        assert 'error' not in row
