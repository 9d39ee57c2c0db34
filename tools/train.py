"""Train an mmdet or mmseg config (mmattn modules included), as mmdet's tools/train.py.

    python tools/train.py CONFIG [--work-dir DIR] [--amp] [--auto-scale-lr] [--resume [CKPT]]
        [--attention SPEC ... [--identity-init]] [--cfg-options KEY=VALUE ...]
        [--launcher {none,pytorch,slurm,mpi}]

Every flag of mmdet's (3.3) and mmseg's (1.2) tools/train.py, plus ``--attention``
(e.g. ``--attention SE:after_conv3:0111 ECA:after_conv2``; see mmattn/config/spec.py).
"""
import argparse

from mmattn.engine import (add_launch_arguments, load_config, parse_launch_args, setup_train_cfg,
                           train)
from mmattn.files import config_file, existing_file, exit_on_missing_file


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Train a detector or segmentor',
                                     allow_abbrev=False)
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument('--amp', action='store_true',
                        help='mixed precision: float16 AMP on CUDA, bfloat16 autocast on CPU')
    parser.add_argument('--auto-scale-lr', action='store_true',
                        help='scale the lr to the actual total batch size (the config\'s '
                        'auto_scale_lr.base_batch_size is the one its lr is for)')
    parser.add_argument('--resume', nargs='?', type=str, const='auto',
                        help='resume from this checkpoint, or without a path from the '
                        'latest checkpoint in the work dir')
    add_launch_arguments(parser, 'train_cfg.max_iters=100')
    return parse_launch_args(parser, argv)


def main():
    args = parse_args()
    with exit_on_missing_file():
        config_file('tools/train.py', args.config)
        if args.resume not in (None, 'auto'):
            existing_file('tools/train.py', '--resume', args.resume)
    cfg = load_config(args.config, args.cfg_options, args.attention, args.identity_init,
                      tool='tools/train.py')
    setup_train_cfg(cfg, args.config, work_dir=args.work_dir, amp=args.amp,
                    resume=args.resume, launcher=args.launcher,
                    auto_scale_lr=args.auto_scale_lr)
    train(cfg)


if __name__ == '__main__':
    main()
