# FCN R-50-D8 80k on ADE20K 512x512, backbone pretrained on ImageNet with its
# TripletAttention modules: triplet resnet50_triplet (ResNet-50 + Triplet
# Attention (k = 7), top-1 error 22.52%; top-1 77.48). TripletAttention after
# conv3 (the 1x1 expansion) of every bottleneck in stages 1-4, where the
# checkpoint has them. The checkpoint's plain 7x7 stem replaces the base's
# ResNetV1c deep stem (PluginResNetV1b, mmseg's r50b); the dilations are the
# base's. Generated from the modules' facts by tools/misc/gen_configs.py.
# Weights: https://drive.google.com/open?id=1ptKswHzVmULGbE3DuX6vMCjEbqwUvGiG
# Convert them first (writes the checkpoint below):
#   python tools/model_converters/triplet2mmattn.py \
#       DOWNLOADED_FILE \
#       checkpoints/triplet_resnet50_triplet_in1k_mmattn.pth --arch resnet50_triplet
_base_ = 'mmseg::fcn/fcn_r50-d8_4xb4-80k_ade20k-512x512.py'

custom_imports = dict(imports=['mmattn'], allow_failed_imports=False)

model = dict(
    pretrained='checkpoints/triplet_resnet50_triplet_in1k_mmattn.pth',
    backbone=dict(
        type='PluginResNetV1b',
        plugins=[
            dict(
                cfg=dict(type='TripletAttention'),
                stages=(True, True, True, True),
                position='after_conv3'),
        ]))
