# The `make demo` run: RetinaNet R-18-FPN at 256 px with SE gates, trained from scratch
# on the toy COCO set (tools/make_toy_data.py coco) for 300 iterations on CPU, evaluated
# with COCO mAP before training and after it.
_base_ = 'mmdet::retinanet/retinanet_r18_fpn_1x_coco.py'

custom_imports = dict(imports=['mmattn', 'mmattn.engine'], allow_failed_imports=False)

classes = ('rectangle', 'ellipse', 'triangle')
data_root = 'data/toy_coco/'
img_scale = (256, 256)
max_iters = 300

# A CPU-sized RetinaNet: R-18 at half width (32 to 256 channels), 64-channel FPN and
# head with two convs per branch. mmattn's PluginResNet takes plugins in ResNet-18's
# BasicBlocks (mmdet's refuses them): an SE gate after conv2 of every block of stages 2-4.
model = dict(
    backbone=dict(
        type='PluginResNet',
        plugins=[dict(cfg=dict(type='SE'), stages=(False, True, True, True),
                      position='after_conv2')],
        stem_channels=32,
        base_channels=32,
        # No ImageNet download: the toy shapes train from scratch, so every stage and
        # every BN layer trains too.
        frozen_stages=-1,
        norm_eval=False,
        init_cfg=None),
    neck=dict(in_channels=[32, 64, 128, 256], out_channels=64),
    bbox_head=dict(num_classes=len(classes), in_channels=64, feat_channels=64,
                   stacked_convs=2),
    # Keep every detection up to 100 per image, so the untrained model is scored too.
    test_cfg=dict(score_thr=0.0))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
# A CPU run: loading PNGs in the main process beats worker processes on 2 cores.
train_dataloader = dict(
    batch_size=4,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        data_root=data_root,
        metainfo=dict(classes=classes),
        ann_file='annotations/instances_train.json',
        data_prefix=dict(img='train/'),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=4,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        data_root=data_root,
        metainfo=dict(classes=classes),
        ann_file='annotations/instances_val.json',
        data_prefix=dict(img='val/'),
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/instances_val.json')
test_evaluator = val_evaluator

train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=max_iters,
                 val_interval=max_iters)
optim_wrapper = dict(
    optimizer=dict(_delete_=True, type='AdamW', lr=1e-3, weight_decay=1e-4),
    clip_grad=dict(max_norm=35, norm_type=2))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=30),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=30, end=max_iters, eta_min=1e-5),
]

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=20),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=max_iters,
                    max_keep_ckpts=1))
# Score the initial weights too, and log both scores side by side at the end.
custom_hooks = [dict(type='ValBeforeTrainHook')]
log_processor = dict(by_epoch=False, window_size=20)
randomness = dict(seed=0)
auto_scale_lr = dict(enable=False)
