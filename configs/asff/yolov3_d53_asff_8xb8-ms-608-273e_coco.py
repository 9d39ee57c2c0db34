# YOLOv3 (Darknet-53, YOLOV3Neck) 273e on COCO with ASFF (Learning Spatial Fusion
# for Single-Shot Object Detection, 2019) over the neck's three levels, the
# paper's own setting: each level (strides 32, 16, 8; 512, 256, 128 channels)
# becomes a learned, per-pixel weighted sum of all three, and keeps its channels
# for the base's YOLOV3Head. Only ASFF is added to the base's recipe: the
# paper's stronger YOLOv3 baseline (its bag of training tricks, anchor guiding
# and IoU loss) is not.
# Generated from the modules' facts by tools/misc/gen_configs.py.
_base_ = 'mmdet::yolo/yolov3_d53_8xb8-ms-608-273e_coco.py'

custom_imports = dict(imports=['mmattn'], allow_failed_imports=False)

model = dict(
    neck=[
        # The base config's YOLOV3Neck, unchanged; its outputs come coarsest first.
        dict(
            type='YOLOV3Neck',
            num_scales=3,
            in_channels=[1024, 512, 256],
            out_channels=[512, 256, 128]),
        dict(
            type='ASFF',
            in_channels=[512, 256, 128],
            out_channels=[512, 256, 128],
            coarsest_first=True),
    ])
