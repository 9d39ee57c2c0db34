# RetinaNet R-50-FPN 1x on COCO, backbone pretrained on ImageNet with its SE
# modules: mmpretrain seresnet50 (seresnet50_8xb32_in1k (140 epochs); top-1
# 77.74). SE after conv3 (the 1x1 expansion) of every bottleneck in stages 1-4,
# where the checkpoint has them. Stage 1 is frozen with its pretrained modules
# (frozen_stages=1). Generated from the modules' facts by
# tools/misc/gen_configs.py.
# Weights: https://download.openmmlab.com/mmclassification/v0/se-resnet/se-resnet50_batch256_imagenet_20200804-ae206104.pth  # noqa: E501
# Convert them first (writes the checkpoint below):
#   python tools/model_converters/mmpretrain2mmattn.py \
#       se-resnet50_batch256_imagenet_20200804-ae206104.pth \
#       checkpoints/mmpretrain_seresnet50_in1k_mmattn.pth --arch seresnet50
_base_ = 'mmdet::retinanet/retinanet_r50_fpn_1x_coco.py'

custom_imports = dict(imports=['mmattn'], allow_failed_imports=False)

model = dict(
    backbone=dict(
        type='PluginResNet',
        plugins=[
            dict(cfg=dict(type='SE'), stages=(True, True, True, True), position='after_conv3'),
        ],
        init_cfg=dict(
            type='Pretrained',
            checkpoint='checkpoints/mmpretrain_seresnet50_in1k_mmattn.pth')))
