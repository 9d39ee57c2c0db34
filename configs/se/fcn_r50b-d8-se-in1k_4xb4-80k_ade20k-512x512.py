# FCN R-50-D8 80k on ADE20K 512x512, backbone pretrained on ImageNet with its SE
# modules: mmpretrain seresnet50 (seresnet50_8xb32_in1k (140 epochs); top-1
# 77.74). SE after conv3 (the 1x1 expansion) of every bottleneck in stages 1-4,
# where the checkpoint has them. The checkpoint's plain 7x7 stem replaces the
# base's ResNetV1c deep stem (PluginResNetV1b, mmseg's r50b); the dilations are
# the base's. Generated from the modules' facts by tools/misc/gen_configs.py.
# Weights: https://download.openmmlab.com/mmclassification/v0/se-resnet/se-resnet50_batch256_imagenet_20200804-ae206104.pth  # noqa: E501
# Convert them first (writes the checkpoint below):
#   python tools/model_converters/mmpretrain2mmattn.py \
#       se-resnet50_batch256_imagenet_20200804-ae206104.pth \
#       checkpoints/mmpretrain_seresnet50_in1k_mmattn.pth --arch seresnet50
_base_ = 'mmseg::fcn/fcn_r50-d8_4xb4-80k_ade20k-512x512.py'

custom_imports = dict(imports=['mmattn'], allow_failed_imports=False)

model = dict(
    pretrained='checkpoints/mmpretrain_seresnet50_in1k_mmattn.pth',
    backbone=dict(
        type='PluginResNetV1b',
        plugins=[
            dict(cfg=dict(type='SE'), stages=(True, True, True, True), position='after_conv3'),
        ]))
