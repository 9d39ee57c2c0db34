# Every 2D attention module mmattn registers in the demo's CPU-sized RetinaNet, and ASFF
# after its FPN: one detector that shows each kind of map the attention figures draw
# (tools/analysis_tools/visualize_attention.py; the README times the tool on it). Data,
# schedule and hooks are the demo's. tests/test_visualization checks that it holds every
# module the registry lists.
_base_ = './retinanet_r18-se_fpn_300i_toy-coco.py'

STAGE_2 = (False, True, False, False)  # 64 channels, stride 8
STAGE_3 = (False, False, True, False)  # 128 channels, stride 16
STAGE_4 = (False, False, False, True)  # 256 channels, stride 32

model = dict(
    backbone=dict(plugins=[
        # Gates with spatial and per-row/column maps where the maps are finest.
        dict(cfg=dict(type='CBAM'), stages=STAGE_2, position='after_conv2'),
        dict(cfg=dict(type='TripletAttention'), stages=STAGE_2, position='after_conv2'),
        dict(cfg=dict(type='CoordAttention'), stages=STAGE_2, position='after_conv2'),
        # Channel gates, selective kernels and the convolutional attentions.
        dict(cfg=dict(type='SE'), stages=STAGE_3, position='after_conv2'),
        dict(cfg=dict(type='ECA'), stages=STAGE_3, position='after_conv2'),
        dict(cfg=dict(type='SK'), stages=STAGE_3, position='after_conv1'),
        dict(cfg=dict(type='SCSA'), stages=STAGE_3, position='after_conv1'),
        dict(cfg=dict(type='PolarizedSelfAttention'), stages=STAGE_3,
             position='after_conv2'),
        dict(cfg=dict(type='CoTAttention'), stages=STAGE_3, position='after_conv1'),
        dict(cfg=dict(type='ScaleAwareModulation'), stages=STAGE_3, position='after_conv1'),
        # Self-attention over all positions on the coarsest maps, as in their papers.
        dict(cfg=dict(type='DANetPAM'), stages=STAGE_4, position='after_conv2'),
        dict(cfg=dict(type='DANetCAM'), stages=STAGE_4, position='after_conv2'),
        dict(cfg=dict(type='DualAttention'), stages=STAGE_4, position='after_conv1'),
        dict(cfg=dict(type='FullyAttention'), stages=STAGE_4, position='after_conv1'),
        dict(cfg=dict(type='MultiHeadSelfAttention2d'), stages=STAGE_4,
             position='after_conv2'),
    ]),
    neck=[
        dict(type='FPN', in_channels=[32, 64, 128, 256], out_channels=64, start_level=1,
             add_extra_convs='on_input', num_outs=5),
        dict(type='ASFF', in_channels=64, out_channels=64, num_levels=5),
    ])
