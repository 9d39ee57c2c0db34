"""Model mode: a config with and without its attention."""
import pytest

from mmattn.analysis import run_model
from mmattn.config import strip_attention
from tests.conftest import CONFIG_DIR

RETINANET_SE = CONFIG_DIR / 'se' / 'retinanet_r50-se_fpn_1x_coco.py'


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
    # The zoo starts its modules as the identity: each SE in an IdentityInit (one scalar).
    assert result['added_modules'] == {'SE': 13, 'IdentityInit': 13}
    assert result['removed'] == ['SE plugin']
    # SE(C) with r=16 and biases: 2*C*C/16 + C/16 + C; 4, 6 and 3 blocks of C=512, 1024, 2048.
    se_params = sum(n * (2 * c * (c // 16) + c // 16 + c + 1)
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


# Every kind of config the zoo holds (and mmdet's own YOLOv3), narrowed where the
# backbone is a ResNet-50 (16 base channels; the neck and heads read its new widths) and
# with 16 proposals instead of 1000 (the RoI heads' cost): the same code paths, a fraction
# of the time.
NARROW_R50 = {'model.backbone.base_channels': 16, 'model.neck.in_channels': [64, 128, 256, 512]}
FEW_PROPOSALS = {'model.test_cfg.rpn.nms_pre': 64, 'model.test_cfg.rpn.max_per_img': 16,
                 'model.train_cfg.rpn_proposal.nms_pre': 64,
                 'model.train_cfg.rpn_proposal.max_per_img': 16,
                 'model.train_cfg.rcnn.sampler.num': 16}
KINDS = {
    'faster-rcnn': (CONFIG_DIR / 'cbam' / 'faster-rcnn_r50-cbam_fpn_1x_coco.py',
                    dict(NARROW_R50, **FEW_PROPOSALS), {'CBAM': 13, 'IdentityInit': 13}),
    'mask-rcnn': (CONFIG_DIR / 'eca' / 'mask-rcnn_r50-eca_fpn_1x_coco.py',
                  dict(NARROW_R50, **FEW_PROPOSALS), {'ECA': 13, 'IdentityInit': 13}),
    'yolov3': ('mmdet::yolo/yolov3_d53_8xb8-320-273e_coco.py', {}, {}),
    'segmentor': (CONFIG_DIR / 'se' / 'fcn_r50-d8-se_4xb4-80k_ade20k-512x512.py',
                  {'model.backbone.base_channels': 16, 'model.decode_head.in_channels': 512,
                   'model.auxiliary_head.in_channels': 256,
                   'model.data_preprocessor.size': (64, 64)},  # it pads to 512x512
                  {'SE': 13, 'IdentityInit': 13}),
}


@pytest.mark.integration
@pytest.mark.parametrize('kind', list(KINDS))
def test_model_mode_on_every_config_kind(kind, tmp_path):
    config, options, added = KINDS[kind]
    if str(config).startswith('mmdet::'):
        stub = tmp_path / 'yolov3.py'
        stub.write_text(f'_base_ = {str(config)!r}\n')
        config = stub
    result = run_model(str(config), size=(64, 64), batch_size=1, warmup=0, repeats=1,
                       max_time=0.0, memory=False, cfg_options=options)
    with_attention, without = result['rows']
    assert result['added_modules'] == added
    assert [r.get('error') for r in result['rows']] == [None, None]
    for row in result['rows']:
        assert row['flops'] > 0 and row['infer_median_ms'] > 0 and row['train_median_ms'] > 0
    assert (with_attention['params'] > without['params']) == bool(added)
