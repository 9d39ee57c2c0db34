# RetinaNet R-50-FPN 1x on COCO with ASFF (Learning Spatial Fusion for Single-Shot
# Object Detection, 2019) after the FPN: each of the five levels P3-P7 becomes a
# learned, per-pixel weighted sum of all five.
# Generated from the modules' facts by tools/misc/gen_configs.py.
_base_ = 'mmdet::retinanet/retinanet_r50_fpn_1x_coco.py'

custom_imports = dict(imports=['mmattn'], allow_failed_imports=False)

model = dict(
    neck=[
        # The base config's FPN (RetinaNet P3-P7), unchanged.
        dict(
            type='FPN',
            in_channels=[256, 512, 1024, 2048],
            out_channels=256,
            start_level=1,
            add_extra_convs='on_input',
            num_outs=5),
        dict(type='ASFF', in_channels=[256] * 5, out_channels=256),
    ])
