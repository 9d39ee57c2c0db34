# A small FCN on the toy ADE20K set (tools/make_toy_data.py ade20k), 128 px, for CPU
# runs and the DDP / AMP / resume tests. GroupNorm instead of BatchNorm makes each
# sample's loss independent of the rest of its batch, so a 2-process run computes what
# a 1-process run with the same total batch computes.
_base_ = 'mmseg::_base_/default_runtime.py'

custom_imports = dict(imports=['mmattn', 'mmattn.engine'], allow_failed_imports=False)

data_root = 'data/toy_ade/'
crop_size = (128, 128)
norm_cfg = dict(type='GN', num_groups=8, requires_grad=True)

model = dict(
    type='EncoderDecoder',
    data_preprocessor=dict(
        type='SegDataPreProcessor', mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375], bgr_to_rgb=True, pad_val=0, seg_pad_val=255,
        size=crop_size),
    backbone=dict(
        # mmattn's ResNetV1c that takes plugins in BasicBlocks: SE after conv2, stage 4.
        type='PluginResNetV1c', depth=18, num_stages=4, out_indices=(3, ),
        plugins=[dict(cfg=dict(type='SE'), stages=(False, False, False, True),
                      position='after_conv2')],
        dilations=(1, 1, 2, 4), strides=(1, 2, 1, 1), norm_cfg=norm_cfg,
        norm_eval=False, style='pytorch', contract_dilation=True, init_cfg=None),
    decode_head=dict(
        type='FCNHead', in_channels=512, in_index=0, channels=64, num_convs=1,
        concat_input=False, dropout_ratio=0.0, num_classes=150, norm_cfg=norm_cfg,
        align_corners=False,
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))

# No random augmentation: a run is a function of the seed and the sampler order alone.
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='PackSegInputs'),
]
test_pipeline = train_pipeline
train_dataloader = dict(
    batch_size=4,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type='ADE20KDataset', data_root=data_root, reduce_zero_label=True,
        data_prefix=dict(img_path='images/training', seg_map_path='annotations/training'),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='ADE20KDataset', data_root=data_root, reduce_zero_label=True,
        data_prefix=dict(img_path='images/validation',
                         seg_map_path='annotations/validation'),
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='IoUMetric', iou_metrics=['mIoU'])
test_evaluator = val_evaluator

optim_wrapper = dict(type='OptimWrapper',
                     optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=5e-4))
param_scheduler = [dict(type='PolyLR', eta_min=1e-4, power=0.9, begin=0, end=200,
                        by_epoch=False)]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=200, val_interval=200)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=10, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=200),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='SegVisualizationHook'))
env_cfg = dict(cudnn_benchmark=False)
randomness = dict(seed=0)
