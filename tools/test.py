"""Test a checkpoint of an mmdet or mmseg config, as mmdet's tools/test.py.

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out RESULTS.pkl]
        [--show-dir DIR] [--cfg-options KEY=VALUE ...] [--launcher {none,pytorch,slurm,mpi}]
"""
import argparse

from mmattn.engine import add_launch_arguments, load_config, parse_launch_args, setup_test_cfg, test


def parse_args():
    parser = argparse.ArgumentParser(description='Test (and evaluate) a checkpoint')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='the dir to save the evaluation metrics')
    parser.add_argument('--out', help='dump the predictions to this pickle file')
    parser.add_argument('--show-dir', help='save the drawn predictions in this dir')
    add_launch_arguments(parser, 'test_dataloader.batch_size=2')
    return parse_launch_args(parser)


def main():
    args = parse_args()
    cfg = load_config(args.config, args.cfg_options)
    setup_test_cfg(cfg, args.config, args.checkpoint, work_dir=args.work_dir, out=args.out,
                   show_dir=args.show_dir, launcher=args.launcher)
    test(cfg)


if __name__ == '__main__':
    main()
