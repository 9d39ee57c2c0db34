"""Write the toy COCO detection set and/or the toy ADE20K segmentation set.

    python tools/make_toy_data.py {coco,ade20k,all} [--out-dir DIR] [--seed 0] ...

Defaults write where configs/demo/ read: data/toy_coco and data/toy_ade.
"""
import argparse
import os.path as osp

from mmattn.datasets import make_toy_ade20k, make_toy_coco


def parse_args():
    parser = argparse.ArgumentParser(description='Render the toy data sets from a seed')
    parser.add_argument('dataset', choices=('coco', 'ade20k', 'all'))
    parser.add_argument('--out-dir', default='data',
                        help='parent dir of toy_coco/ and toy_ade/ (default: data)')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--num-train', type=int, help='training images (default: per set)')
    parser.add_argument('--num-val', type=int, help='validation images (default: per set)')
    parser.add_argument('--img-size', type=int, help='image side in pixels (default: per set)')
    return parser.parse_args()


def main():
    args = parse_args()
    given = dict(num_train=args.num_train, num_val=args.num_val, img_size=args.img_size)
    sizes = {k: v for k, v in given.items() if v is not None}
    if args.dataset in ('coco', 'all'):
        out = osp.join(args.out_dir, 'toy_coco')
        files = make_toy_coco(out, seed=args.seed, **sizes)
        print(f'toy COCO (seed {args.seed}): {out} ({", ".join(files.values())})')
    if args.dataset in ('ade20k', 'all'):
        out = osp.join(args.out_dir, 'toy_ade')
        make_toy_ade20k(out, seed=args.seed, **sizes)
        print(f'toy ADE20K (seed {args.seed}): {out}')


if __name__ == '__main__':
    main()
