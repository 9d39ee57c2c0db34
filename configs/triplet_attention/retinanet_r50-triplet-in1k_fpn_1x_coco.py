# RetinaNet R-50-FPN 1x on COCO, backbone pretrained on ImageNet with its
# TripletAttention modules: triplet resnet50_triplet (ResNet-50 + Triplet
# Attention (k = 7), top-1 error 22.52%; top-1 77.48). TripletAttention after
# conv3 (the 1x1 expansion) of every bottleneck in stages 1-4, where the
# checkpoint has them. Stage 1 is frozen with its pretrained modules
# (frozen_stages=1). Generated from the modules' facts by
# tools/misc/gen_configs.py.
# Weights: https://drive.google.com/open?id=1ptKswHzVmULGbE3DuX6vMCjEbqwUvGiG
# Convert them first (writes the checkpoint below):
#   python tools/model_converters/triplet2mmattn.py \
#       DOWNLOADED_FILE \
#       checkpoints/triplet_resnet50_triplet_in1k_mmattn.pth --arch resnet50_triplet
_base_ = 'mmdet::retinanet/retinanet_r50_fpn_1x_coco.py'

custom_imports = dict(imports=['mmattn'], allow_failed_imports=False)

model = dict(
    backbone=dict(
        type='PluginResNet',
        plugins=[
            dict(
                cfg=dict(type='TripletAttention'),
                stages=(True, True, True, True),
                position='after_conv3'),
        ],
        init_cfg=dict(
            type='Pretrained',
            checkpoint='checkpoints/triplet_resnet50_triplet_in1k_mmattn.pth')))
