"""Train an mmdet or mmseg config (mmattn modules included), as mmdet's tools/train.py.

    python tools/train.py CONFIG [--work-dir DIR] [--amp] [--resume [CKPT]]
        [--cfg-options KEY=VALUE ...] [--launcher {none,pytorch,slurm,mpi}]
"""
import argparse
import os

from mmengine.config import DictAction

from mmattn.engine import LAUNCHERS, load_config, setup_train_cfg, train


def parse_args():
    parser = argparse.ArgumentParser(description='Train a detector or segmentor')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument('--amp', action='store_true',
                        help='mixed precision: float16 AMP on CUDA, bfloat16 autocast on CPU')
    parser.add_argument('--resume', nargs='?', type=str, const='auto',
                        help='resume from this checkpoint, or without a path from the '
                        'latest checkpoint in the work dir')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, e.g. train_cfg.max_iters=100')
    parser.add_argument('--launcher', choices=LAUNCHERS, default='none', help='job launcher')
    # torch.distributed.launch passes --local-rank (torch >= 2.0) or --local_rank.
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def main():
    args = parse_args()
    cfg = load_config(args.config, args.cfg_options)
    setup_train_cfg(cfg, args.config, work_dir=args.work_dir, amp=args.amp,
                    resume=args.resume, launcher=args.launcher)
    train(cfg)


if __name__ == '__main__':
    main()
