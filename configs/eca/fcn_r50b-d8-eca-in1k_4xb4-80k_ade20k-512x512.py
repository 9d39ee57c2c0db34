# FCN R-50-D8 80k on ADE20K 512x512, backbone pretrained on ImageNet with its ECA
# modules: eca eca_resnet50 (eca_resnet50_k3557; top-1 77.42). ECA (kernel_size=3)
# after conv3 (the 1x1 expansion) of every bottleneck in stage 1; ECA
# (kernel_size=5) after conv3 (the 1x1 expansion) of every bottleneck in stages
# 2-3; ECA (kernel_size=7) after conv3 (the 1x1 expansion) of every bottleneck in
# stage 4, where the checkpoint has them. The checkpoint's plain 7x7 stem replaces
# the base's ResNetV1c deep stem (PluginResNetV1b, mmseg's r50b); the dilations
# are the base's. Generated from the modules' facts by tools/misc/gen_configs.py.
# Weights: https://drive.google.com/open?id=1670rce333c_lyMWFzBlNZoVUvtxbCF_U
# Convert them first (writes the checkpoint below):
#   python tools/model_converters/eca2mmattn.py \
#       DOWNLOADED_FILE \
#       checkpoints/eca_eca_resnet50_in1k_mmattn.pth --arch eca_resnet50
_base_ = 'mmseg::fcn/fcn_r50-d8_4xb4-80k_ade20k-512x512.py'

custom_imports = dict(imports=['mmattn'], allow_failed_imports=False)

model = dict(
    pretrained='checkpoints/eca_eca_resnet50_in1k_mmattn.pth',
    backbone=dict(
        type='PluginResNetV1b',
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
        ]))
