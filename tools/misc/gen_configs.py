"""Write the config zoo and the docs' module tables from the modules' classes.

    python tools/misc/gen_configs.py           # (re)write what differs, remove stale configs
    python tools/misc/gen_configs.py --check   # exit 1 if a checked-in file differs or is stale

The zoo is ``configs/<family>/`` (configs, README.md, metafile.yml; the text is
``mmattn.zoo.zoo_files``); ``configs/demo/`` is written by hand and left alone. The module
tables are the generated blocks of README.md and docs/module_contract.md
(``mmattn.zoo.docs_blocks``).
"""
import argparse
import os
import os.path as osp
import sys

from mmattn.zoo import docs_blocks, fill_blocks, write_zoo, zoo_files

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG_DIR = osp.join(REPO, 'configs')
HAND_WRITTEN = ('demo', )


def stale_files(config_dir: str, generated) -> list:
    """Files under ``config_dir`` (outside the hand-written folders) the generator no longer
    writes."""
    stale = []
    for root, _, files in os.walk(config_dir):
        rel_root = osp.relpath(root, config_dir)
        if rel_root.split(os.sep)[0] in HAND_WRITTEN:
            continue
        for name in files:
            rel = osp.normpath(osp.join(rel_root, name)).replace(os.sep, '/')
            if rel not in generated and not name.endswith('.pyc'):
                stale.append(rel)
    return sorted(stale)


def docs_texts() -> dict:
    """Each doc with generated blocks: path -> (current text, generated text)."""
    texts = {}
    for rel, blocks in docs_blocks().items():
        with open(osp.join(REPO, rel), encoding='utf-8') as f:
            text = f.read()
        texts[rel] = (text, fill_blocks(text, blocks, rel))
    return texts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--config-dir', default=CONFIG_DIR, help='where configs/ is')
    parser.add_argument('--check', action='store_true',
                        help='write nothing; exit 1 when a file differs from the generator')
    args = parser.parse_args()
    generated = zoo_files()
    stale = stale_files(args.config_dir, generated)
    if args.check:
        differ = []
        for rel, text in generated.items():
            path = osp.join(args.config_dir, rel)
            if not osp.isfile(path) or open(path, encoding='utf-8').read() != text:
                differ.append(rel)
        for rel in differ:
            print(f'differs from the generator: configs/{rel}')
        for rel in stale:
            print(f'not written by the generator: configs/{rel}')
        docs = [rel for rel, (old, new) in docs_texts().items() if old != new]
        for rel in docs:
            print(f'generated table differs: {rel}')
        return 1 if differ or stale or docs else 0
    for rel in write_zoo(args.config_dir):
        print(f'wrote configs/{rel}')
    for rel, (old, new) in docs_texts().items():
        if old != new:
            with open(osp.join(REPO, rel), 'w', encoding='utf-8') as f:
                f.write(new)
            print(f'wrote the generated tables of {rel}')
    for rel in stale:
        os.remove(osp.join(args.config_dir, rel))
        print(f'removed configs/{rel}')
    for root, _, _ in os.walk(args.config_dir, topdown=False):
        if root != args.config_dir and not os.listdir(root):
            os.rmdir(root)  # a folder the generator no longer writes into
    return 0


if __name__ == '__main__':
    sys.exit(main())
