# Every 2D attention module mmattn registers in the demo's CPU-sized RetinaNet,
# and ASFF after its FPN: one detector that shows each kind of map the attention
# figures draw (tools/analysis_tools/visualize_attention.py;
# docs/attention_maps.md times the tool on it). Data, schedule and hooks are the
# demo's. Each module goes into a BasicBlock (conv1 and conv2 only) one place
# earlier than its default in a Bottleneck (after conv3 -> after conv2, after
# conv2 -> after conv1), in stage 4 if its default is the last stage, else in
# stage 2 if it shows spatial or per-row/column maps (the finest maps), else in
# stage 3. Generated from the modules' facts by tools/misc/gen_configs.py.
_base_ = './retinanet_r18-se_fpn_300i_toy-coco.py'

STAGE_2 = (False, True, False, False)  # 64 channels, stride 8
STAGE_3 = (False, False, True, False)  # 128 channels, stride 16
STAGE_4 = (False, False, False, True)  # 256 channels, stride 32

model = dict(
    backbone=dict(plugins=[
        dict(cfg=dict(type='CBAM'), stages=STAGE_2, position='after_conv2'),
        dict(cfg=dict(type='CoTAttention'), stages=STAGE_2, position='after_conv1'),
        dict(cfg=dict(type='CoordAttention'), stages=STAGE_2, position='after_conv2'),
        dict(cfg=dict(type='PolarizedSelfAttention'), stages=STAGE_2, position='after_conv2'),
        dict(cfg=dict(type='SCSA'), stages=STAGE_2, position='after_conv1'),
        dict(cfg=dict(type='ScaleAwareModulation'), stages=STAGE_2, position='after_conv1'),
        dict(cfg=dict(type='TripletAttention'), stages=STAGE_2, position='after_conv2'),
        dict(cfg=dict(type='ECA'), stages=STAGE_3, position='after_conv2'),
        dict(cfg=dict(type='SE'), stages=STAGE_3, position='after_conv2'),
        dict(cfg=dict(type='SK'), stages=STAGE_3, position='after_conv1'),
        dict(cfg=dict(type='DANetCAM'), stages=STAGE_4, position='after_conv1'),
        dict(cfg=dict(type='DANetPAM'), stages=STAGE_4, position='after_conv1'),
        dict(cfg=dict(type='DualAttention'), stages=STAGE_4, position='after_conv1'),
        dict(cfg=dict(type='FullyAttention'), stages=STAGE_4, position='after_conv1'),
        dict(cfg=dict(type='MultiHeadSelfAttention2d'), stages=STAGE_4, position='after_conv1'),
    ]),
    neck=[
        dict(type='FPN', in_channels=[32, 64, 128, 256], out_channels=64, start_level=1,
             add_extra_convs='on_input', num_outs=5),
        dict(type='ASFF', in_channels=64, out_channels=64, num_levels=5),
    ])
