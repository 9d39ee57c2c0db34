"""Draw where attention looks: every mmattn module's maps on images, with the predictions.

    python tools/analysis_tools/visualize_attention.py CONFIG CHECKPOINT IMAGE [IMAGE ...]
        [--out-dir DIR] [--modules PATTERN ...] [--stages N ...] [--query X,Y ...]
        [--score-thr 0.3] [--index {md,html}] [--device cpu] [--attention SPEC ...]
        [--identity-init] [--cfg-options KEY=VALUE ...]

The model runs on each image through the config's test pipeline (mmdet's or mmseg's
inference API); hooks read the maps of every mmattn module (named by their place in the
model, e.g. ``backbone.layer3.2.cbam``); per image ``DIR/<stem>.png`` holds the figure
grid, ``<stem>.npz`` the numbers behind it and ``<stem>.json`` what each panel shows;
``DIR/index.md`` (or ``.html``) lists the figures. CHECKPOINT ``none`` keeps the
config's initialisation (to look at a config before training). Logic in
``mmattn.visualization``.
"""
import argparse

from mmengine.config import DictAction
from mmengine.logging import print_log

from mmattn.files import exit_on_missing_file
from mmattn.models.utils import CheckpointMismatchError
from mmattn.visualization import visualize_images


def parse_point(text: str):
    try:
        x, y = (float(v) for v in text.split(','))
    except ValueError:
        raise argparse.ArgumentTypeError(f'--query {text!r} must be X,Y pixels, e.g. 120,80')
    return x, y


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Draw the attention maps of the mmattn modules of a detector or '
        'segmentor on images')
    parser.add_argument('config', help='mmdet or mmseg config file')
    parser.add_argument('checkpoint', help="checkpoint file, or 'none' for the config's "
                        'initialisation')
    parser.add_argument('images', nargs='+', help='image files')
    parser.add_argument('--out-dir', default='work_dirs/attention_maps',
                        help='where the figures go (default: work_dirs/attention_maps)')
    parser.add_argument('--modules', nargs='+', help='only modules whose path or type '
                        "matches one of these shell patterns, e.g. CBAM 'backbone.layer4.*'")
    parser.add_argument('--stages', nargs='+', type=int,
                        help='only modules in these ResNet stages (layerN), e.g. 3 4')
    parser.add_argument('--query', nargs='+', type=parse_point, metavar='X,Y',
                        help='query pixels of DANetPAM and self-attention maps '
                        '(default: the image centre)')
    parser.add_argument('--score-thr', type=float, default=0.3,
                        help='draw detections from this score on (default: 0.3)')
    parser.add_argument('--index', choices=('md', 'html'), default='md',
                        help='format of the index of the figures (default: md)')
    parser.add_argument('--device', default='cpu', help='cpu or cuda[:i] (default: cpu)')
    parser.add_argument('--attention', nargs='+', metavar='SPEC',
                        help='put attention modules into the config\'s model, as tools/train.py '
                        '--attention does (a checkpoint trained with --attention brings its '
                        'own back when the config has none)')
    parser.add_argument('--identity-init', action='store_true',
                        help='--attention\'s modules start as the identity')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings (after --attention), e.g. '
                        'model.test_cfg.score_thr=0.05')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    checkpoint = None if args.checkpoint.lower() == 'none' else args.checkpoint
    with exit_on_missing_file(CheckpointMismatchError):
        results = visualize_images(
            args.config, checkpoint, args.images, args.out_dir, modules=args.modules,
            stages=args.stages, points=args.query, device=args.device,
            score_thr=args.score_thr, index=args.index, cfg_options=args.cfg_options,
            attention=args.attention, identity_init=args.identity_init)
    for r in results:
        print_log(f"{r['figure']}: {len(r['modules'])} modules, {r['seconds']:.2f} s "
                  f"({r['inference_seconds']:.2f} s inference)", logger='current')
    print_log(f'index: {args.out_dir}/index.{args.index}', logger='current')


if __name__ == '__main__':
    main()
