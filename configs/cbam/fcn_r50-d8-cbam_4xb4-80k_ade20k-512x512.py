# FCN R-50-D8 80k on ADE20K 512x512 with CBAM after conv3 (the 1x1 expansion) of
# every bottleneck in stages 2-4: the position of its paper (CBAM: Convolutional
# Block Attention Module, ECCV 2018); stage 1 is left out as in the detection
# configs. The module starts as the identity (identity_init=True: y = x + s *
# (m(x) - x), s = 0 at initialisation), so at iteration 0 the model computes
# exactly what the base's pretrained model computes. Generated from the modules'
# facts by tools/misc/gen_configs.py.
_base_ = 'mmseg::fcn/fcn_r50-d8_4xb4-80k_ade20k-512x512.py'

custom_imports = dict(imports=['mmattn'], allow_failed_imports=False)

model = dict(
    backbone=dict(
        type='PluginResNetV1c',
        plugins=[
            dict(
                cfg=dict(type='CBAM'),
                stages=(False, True, True, True),
                position='after_conv3',
                identity_init=True),
        ]))
