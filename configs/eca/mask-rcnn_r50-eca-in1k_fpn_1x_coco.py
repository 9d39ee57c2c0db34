# Mask R-CNN R-50-FPN 1x on COCO, backbone pretrained on ImageNet with its ECA
# modules: eca eca_resnet50 (eca_resnet50_k3557; top-1 77.42). ECA (kernel_size=3)
# after conv3 (the 1x1 expansion) of every bottleneck in stage 1; ECA
# (kernel_size=5) after conv3 (the 1x1 expansion) of every bottleneck in stages
# 2-3; ECA (kernel_size=7) after conv3 (the 1x1 expansion) of every bottleneck in
# stage 4, where the checkpoint has them. Stage 1 is frozen with its pretrained
# modules (frozen_stages=1). Generated from the modules' facts by
# tools/misc/gen_configs.py.
# Weights: https://drive.google.com/open?id=1670rce333c_lyMWFzBlNZoVUvtxbCF_U
# Convert them first (writes the checkpoint below):
#   python tools/model_converters/eca2mmattn.py \
#       DOWNLOADED_FILE \
#       checkpoints/eca_eca_resnet50_in1k_mmattn.pth --arch eca_resnet50
_base_ = 'mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py'

custom_imports = dict(imports=['mmattn'], allow_failed_imports=False)

model = dict(
    backbone=dict(
        type='PluginResNet',
        plugins=[
            dict(
                cfg=dict(type='ECA', kernel_size=3),
                stages=(True, False, False, False),
                position='after_conv3'),
            dict(
                cfg=dict(type='ECA', kernel_size=5),
                stages=(False, True, True, False),
                position='after_conv3'),
            dict(
                cfg=dict(type='ECA', kernel_size=7),
                stages=(False, False, False, True),
                position='after_conv3'),
        ],
        init_cfg=dict(
            type='Pretrained',
            checkpoint='checkpoints/eca_eca_resnet50_in1k_mmattn.pth')))
