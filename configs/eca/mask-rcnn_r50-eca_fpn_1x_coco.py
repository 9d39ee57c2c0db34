# Mask R-CNN R-50-FPN 1x on COCO with ECA after conv3 (the 1x1 expansion) of every
# bottleneck in stages 2-4: the position of its paper (ECA-Net, CVPR 2020); stage
# 1 is frozen in the base config (frozen_stages=1), so a module there would keep
# its random initialization. The module starts as the identity
# (identity_init=True: y = x + s * (m(x) - x), s = 0 at initialisation), so at
# iteration 0 the model computes exactly what the base's pretrained model
# computes. Generated from the modules' facts by tools/misc/gen_configs.py.
_base_ = 'mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py'

custom_imports = dict(imports=['mmattn'], allow_failed_imports=False)

model = dict(
    backbone=dict(
        type='PluginResNet',
        plugins=[
            dict(
                cfg=dict(type='ECA'),
                stages=(False, True, True, True),
                position='after_conv3',
                identity_init=True),
        ]))
