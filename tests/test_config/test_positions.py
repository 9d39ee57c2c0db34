"""The insertion points, stage digits, and each module's default place (read from its class)."""
from mmattn.config import describe_stages, paper_placements, parse_stages, placement_of
from mmattn.models import SE, STAGE_4, STAGES_2_TO_4, DANetPAM, list_attention_modules


def test_stage_strings_and_descriptions():
    assert parse_stages('0111') == STAGES_2_TO_4
    assert parse_stages([0, 0, 0, 1]) == STAGE_4
    assert describe_stages(STAGES_2_TO_4) == 'stages 2-4'
    assert describe_stages(STAGE_4) == 'stage 4'
    assert describe_stages((True, False, True, False)) == 'stages 1, 3'


def test_default_places_are_read_from_the_classes():
    placements = paper_placements()
    assert set(placements) == set(list_attention_modules())
    assert placements['SE'] == SE.placement()
    assert placements['DANetPAM'].stages == STAGE_4 == DANetPAM.default_stages
    assert placement_of('mmattn.SE') == SE.placement()
    assert placement_of('ContextBlock') is None  # mmcv's: no default place
    assert placement_of('ScaledDotProductAttention') is None  # a sequence form
