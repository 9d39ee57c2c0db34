# RetinaNet R-50-FPN 1x on COCO, backbone pretrained on ImageNet with its CBAM
# modules: cbam resnet50_cbam (RESNET50_CBAM, 100 epochs; the paper reports 77.34;
# top-1 77.622). CBAM after conv3 (the 1x1 expansion) of every bottleneck in
# stages 1-4, where the checkpoint has them. Stage 1 is frozen with its pretrained
# modules (frozen_stages=1). Generated from the modules' facts by
# tools/misc/gen_configs.py.
# Weights: https://drive.google.com/file/d/1mvAVvhLR_2XY_bPYxh-SEz4vDmGzSArO
# Convert them first (writes the checkpoint below):
#   python tools/model_converters/cbam2mmattn.py \
#       DOWNLOADED_FILE \
#       checkpoints/cbam_resnet50_cbam_in1k_mmattn.pth --arch resnet50_cbam
_base_ = 'mmdet::retinanet/retinanet_r50_fpn_1x_coco.py'

custom_imports = dict(imports=['mmattn'], allow_failed_imports=False)

model = dict(
    backbone=dict(
        type='PluginResNet',
        plugins=[
            dict(cfg=dict(type='CBAM'), stages=(True, True, True, True), position='after_conv3'),
        ],
        init_cfg=dict(
            type='Pretrained',
            checkpoint='checkpoints/cbam_resnet50_cbam_in1k_mmattn.pth')))
