"""Test a checkpoint of an mmdet or mmseg config, as mmdet's tools/test.py.

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out RESULTS.pkl]
        [--show] [--show-dir DIR] [--wait-time S] [--tta] [--attention SPEC ... [--identity-init]]
        [--cfg-options KEY=VALUE ...] [--launcher {none,pytorch,slurm,mpi}]

Every flag of mmdet's (3.3) and mmseg's (1.2) tools/test.py, each doing what the
config's own package does, plus ``--attention``. Without it, a checkpoint written by
mmattn's tools/train.py brings back the ``--attention`` it was trained with (its meta); a
checkpoint whose weights do not fit the model's attention modules is refused.
"""
import argparse

from mmattn.engine import add_launch_arguments, load_config, parse_launch_args, setup_test_cfg, test
from mmattn.files import config_file, existing_file, exit_on_missing_file
from mmattn.models.utils import CheckpointMismatchError


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Test (and evaluate) a checkpoint',
                                     allow_abbrev=False)
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='the dir to save the evaluation metrics')
    parser.add_argument('--out', help='dump the predictions to this pickle file (mmseg '
                        'configs: a path without .pkl is the folder for the predicted maps)')
    parser.add_argument('--show', action='store_true', help='show the drawn predictions')
    parser.add_argument('--show-dir', help='save the drawn predictions in this dir')
    parser.add_argument('--wait-time', type=float, default=2,
                        help='seconds each shown prediction stays (--show)')
    parser.add_argument('--tta', action='store_true', help='test-time augmentation')
    add_launch_arguments(parser, 'test_dataloader.batch_size=2')
    return parse_launch_args(parser, argv)


def main():
    args = parse_args()
    with exit_on_missing_file():
        config_file('tools/test.py', args.config)
        existing_file('tools/test.py', 'CHECKPOINT', args.checkpoint)
    with exit_on_missing_file(CheckpointMismatchError):
        cfg = load_config(args.config, args.cfg_options, args.attention, args.identity_init,
                          checkpoint=args.checkpoint, tool='tools/test.py')
        setup_test_cfg(cfg, args.config, args.checkpoint, work_dir=args.work_dir, out=args.out,
                       show_dir=args.show_dir, launcher=args.launcher, show=args.show,
                       wait_time=args.wait_time, tta=args.tta)
        test(cfg, tool='tools/test.py')


if __name__ == '__main__':
    main()
