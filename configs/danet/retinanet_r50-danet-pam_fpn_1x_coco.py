# RetinaNet R-50-FPN 1x on COCO with DANetPAM after conv2 (the 3x3 conv) of every
# bottleneck in stage 4: the position of its paper (Dual Attention Network
# (position attention), CVPR 2019); the paper's last, stride-32 stage. The module
# starts as the identity (identity_init=True: y = x + s * (m(x) - x), s = 0 at
# initialisation), so at iteration 0 the model computes exactly what the base's
# pretrained model computes. Generated from the modules' facts by
# tools/misc/gen_configs.py.
_base_ = 'mmdet::retinanet/retinanet_r50_fpn_1x_coco.py'

custom_imports = dict(imports=['mmattn'], allow_failed_imports=False)

model = dict(
    backbone=dict(
        type='PluginResNet',
        plugins=[
            dict(
                cfg=dict(type='DANetPAM'),
                stages=(False, False, False, True),
                position='after_conv2',
                identity_init=True),
        ]))
