"""Every file under ``configs/`` the generator writes, and writing them."""
import os
import os.path as osp
from typing import Dict, List

from .configs import EVERY_ATTENTION, every_attention_config, zoo_configs
from .docs import family_files


def zoo_files() -> Dict[str, str]:
    """Every generated file under ``configs/``: the configs, each family's README.md and
    metafile.yml (:mod:`mmattn.zoo.docs`), and the demo detector with every module. Path
    relative to ``configs/`` -> text."""
    configs = zoo_configs()
    files = {c.path: c.text for c in configs}
    files.update(family_files(configs))
    files[EVERY_ATTENTION] = every_attention_config()
    return dict(sorted(files.items()))


def write_zoo(config_dir: str) -> List[str]:
    """Write :func:`zoo_files` under ``config_dir``; the paths whose text changed."""
    changed = []
    for rel, text in zoo_files().items():
        path = osp.join(config_dir, rel)
        if osp.isfile(path):
            with open(path, encoding='utf-8') as f:
                if f.read() == text:
                    continue
        os.makedirs(osp.dirname(path), exist_ok=True)
        with open(path, 'w', encoding='utf-8') as f:
            f.write(text)
        changed.append(rel)
    return changed


__all__ = ['zoo_files', 'write_zoo']
