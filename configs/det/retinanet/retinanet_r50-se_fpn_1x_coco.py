# RetinaNet R-50-FPN 1x on COCO with an SE gate after conv3 of every
# bottleneck in stages 2-4 (stage 1 is frozen in the base config).
_base_ = 'mmdet::retinanet/retinanet_r50_fpn_1x_coco.py'

custom_imports = dict(imports=['mmattn'], allow_failed_imports=False)

model = dict(
    backbone=dict(plugins=[
        dict(cfg=dict(type='SE'), stages=(False, True, True, True), position='after_conv3'),
    ]))
