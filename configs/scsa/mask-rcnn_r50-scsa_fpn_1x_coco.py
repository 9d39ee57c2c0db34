# Mask R-CNN R-50-FPN 1x on COCO with SCSA after conv2 (the 3x3 conv) of every
# bottleneck in stages 2-4: the position of its paper (SCSA: Spatial and Channel
# Synergistic Attention, 2024); stage 1 is frozen in the base config
# (frozen_stages=1), so a module there would keep its random initialization. The
# module starts as the identity (identity_init=True: y = x + s * (m(x) - x), s = 0
# at initialisation), so at iteration 0 the model computes exactly what the base's
# pretrained model computes. Generated from the modules' facts by
# tools/misc/gen_configs.py.
_base_ = 'mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py'

custom_imports = dict(imports=['mmattn'], allow_failed_imports=False)

model = dict(
    backbone=dict(
        type='PluginResNet',
        plugins=[
            dict(
                cfg=dict(type='SCSA'),
                stages=(False, True, True, True),
                position='after_conv2',
                identity_init=True),
        ]))
