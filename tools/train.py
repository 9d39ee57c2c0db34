"""Train an mmdet or mmseg config (mmattn modules included), as mmdet's tools/train.py.

    python tools/train.py CONFIG [--work-dir DIR] [--amp] [--resume [CKPT]]
        [--cfg-options KEY=VALUE ...] [--launcher {none,pytorch,slurm,mpi}]
"""
import argparse

from mmattn.engine import (add_launch_arguments, load_config, parse_launch_args, setup_train_cfg,
                           train)


def parse_args():
    parser = argparse.ArgumentParser(description='Train a detector or segmentor')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument('--amp', action='store_true',
                        help='mixed precision: float16 AMP on CUDA, bfloat16 autocast on CPU')
    parser.add_argument('--resume', nargs='?', type=str, const='auto',
                        help='resume from this checkpoint, or without a path from the '
                        'latest checkpoint in the work dir')
    add_launch_arguments(parser, 'train_cfg.max_iters=100')
    return parse_launch_args(parser)


def main():
    args = parse_args()
    cfg = load_config(args.config, args.cfg_options)
    setup_train_cfg(cfg, args.config, work_dir=args.work_dir, amp=args.amp,
                    resume=args.resume, launcher=args.launcher)
    train(cfg)


if __name__ == '__main__':
    main()
