"""See where attention looks: collect the attention maps of mmattn's modules in a model and
draw them (what ``tools/analysis_tools/visualize_attention.py`` and ``AttentionVisHook``
use). Each module declares its maps in ``_maps_`` (see ``mmattn.models.utils.attention_map``).
"""
from .collector import (AttentionMapCollector, CapturedMap, find_attention_modules, query_index,
                        stage_of, to_canonical)
from .figure import ImageGeometry, Panel, build_panels, render_figure
from .images import (attention_figure, build_prediction_visualizer, draw_predictions, init_model,
                     visualize_images)

__all__ = ['AttentionMapCollector', 'CapturedMap', 'find_attention_modules', 'query_index',
           'stage_of', 'to_canonical', 'ImageGeometry', 'Panel', 'build_panels',
           'render_figure', 'attention_figure', 'build_prediction_visualizer',
           'draw_predictions', 'init_model', 'visualize_images']
