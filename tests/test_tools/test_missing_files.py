"""Every tool names a missing config, checkpoint, image or source file in one sentence and
exits with status 1, before it builds anything (not mmengine's FileNotFoundError at the end
of a traceback).

Each tool script under tools/ is run in this process as ``__main__`` with each of its input
files missing in turn, the others present. A script that reads no file a user names is
listed in NO_INPUT_FILES; a new script must be added to one of the two tables (a test
fails naming it).
"""
import os
import runpy
import subprocess
import sys

import numpy as np
import pytest

from mmattn.files import MissingFileError, config_file, existing_file
from tests.conftest import CONFIG_DIR, REPO_ROOT

TOOLS = REPO_ROOT / 'tools'
DEMO = str(CONFIG_DIR / 'demo' / 'retinanet_r18-se_fpn_300i_toy-coco.py')
MISSING = 'no/such/file'

# Tools that read no file a user names: they write toy data, build mmcv, render configs.
NO_INPUT_FILES = {'make_toy_data.py', 'build_mmcv.py', 'check_stack.py', 'misc/gen_configs.py'}

CONVERTERS = sorted(p.name for p in (TOOLS / 'model_converters').glob('*2mmattn.py'))


def _cases():
    """(script, case, argv with {config}/{checkpoint}/{image}/{source} placeholders, the
    argument the sentence must name, exit status)."""
    cases = [
        ('train.py', 'config', [MISSING + '.py'], 'tools/train.py: CONFIG', 1),
        ('train.py', 'resume', ['{config}', '--resume', MISSING + '.pth'],
         'tools/train.py: --resume', 1),
        ('test.py', 'config', [MISSING + '.py', '{checkpoint}'], 'tools/test.py: CONFIG', 1),
        ('test.py', 'checkpoint', ['{config}', MISSING + '.pth'],
         'tools/test.py: CHECKPOINT', 1),
        ('test.py', 'package config', ['mmdet::no/such.py', '{checkpoint}'],
         "tools/test.py: CONFIG 'mmdet::no/such.py': mmdet has no config", 1),
        ('test.py', 'package', ['nopackage::a/b.py', '{checkpoint}'],
         "tools/test.py: CONFIG 'nopackage::a/b.py' names a config of the package", 1),
        ('benchmark.py', 'model config', ['model', MISSING + '.py'],
         'benchmark.py model: CONFIG', 1),
        ('sweep.py', 'base config', [MISSING + '.py', 'SE'], 'sweep: base config', 2),
    ]
    tool = 'analysis_tools/visualize_attention.py'
    cases += [
        (tool, 'config', [MISSING + '.py', '{checkpoint}', '{image}'],
         'visualize_attention: CONFIG', 1),
        (tool, 'checkpoint', ['{config}', MISSING + '.pth', '{image}'],
         'visualize_attention: CHECKPOINT', 1),
        (tool, 'image', ['{config}', 'none', '{image}', MISSING + '.png'],
         'visualize_attention: IMAGE', 1),
        (tool, 'image is a folder', ['{config}', 'none', '{folder}'],
         'visualize_attention: IMAGE', 1),
    ]
    for script in CONVERTERS:
        cases += [
            (f'model_converters/{script}', 'source', [MISSING + '.pth', '{out}'],
             'converter: source checkpoint', 1),
            (f'model_converters/{script}', '--config',
             ['{source}', '{out}', '--config', MISSING + '.py'], 'converter: --config', 1),
        ]
    return cases


CASES = _cases()


@pytest.fixture(scope='module')
def files(tmp_path_factory):
    """Files that exist, for the arguments not under test (their content is never read)."""
    import mmcv
    root = tmp_path_factory.mktemp('present')
    (root / 'weights.pth').write_bytes(b'not read')
    mmcv.imwrite(np.zeros((8, 8, 3), np.uint8), str(root / 'image.png'))
    return dict(config=DEMO, checkpoint=str(root / 'weights.pth'),
                image=str(root / 'image.png'), source=str(root / 'weights.pth'),
                folder=str(root), out=str(root / 'out' / 'converted.pth'))


def test_every_tool_script_is_covered():
    scripts = {str(p.relative_to(TOOLS)) for p in TOOLS.rglob('*.py')
               if "__name__ == '__main__'" in p.read_text()}
    covered = {script for script, *_ in CASES} | NO_INPUT_FILES
    assert scripts <= covered, (
        f'add the tools {sorted(scripts - covered)} to CASES (the files they read) or to '
        'NO_INPUT_FILES in ' + __file__)


@pytest.mark.parametrize('script,case,argv,named,status', CASES,
                         ids=[f'{s}-{c}' for s, c, *_ in CASES])
def test_a_missing_file_is_named_in_one_sentence(script, case, argv, named, status, files,
                                                 monkeypatch, capsys):
    argv = [a.format(**files) for a in argv]
    monkeypatch.setattr(sys, 'argv', [str(TOOLS / script)] + argv)
    monkeypatch.setenv('LOCAL_RANK', '0')  # train.py/test.py export it
    with pytest.raises(SystemExit) as info:
        runpy.run_path(str(TOOLS / script), run_name='__main__')
    assert info.value.code == status
    err = capsys.readouterr().err.strip().splitlines()
    assert err, 'nothing on stderr'
    sentence = err[-1]
    assert named in sentence, sentence
    shown = [a for a in argv if MISSING in a or a == files['folder'] or '::' in a]
    assert shown and all(repr(a) in sentence for a in shown), sentence
    assert not os.path.exists(files['out']), 'a converter wrote its output'


def test_the_sentence_comes_without_a_traceback(files):
    """End to end, as a user runs it: one line on stderr, exit status 1."""
    result = subprocess.run(
        [sys.executable, 'tools/test.py', DEMO, MISSING + '.pth'], cwd=REPO_ROOT,
        env=dict(os.environ, PYTHONPATH=str(REPO_ROOT), PYTHONWARNINGS='ignore'),
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if 'Warning' not in line
             and 'pkg_resources' not in line and line.strip() and not line.startswith(' ')]
    assert lines == [f"error: tools/test.py: CHECKPOINT '{MISSING}.pth' does not exist "
                     f'(looked for in {REPO_ROOT})'], result.stderr
    assert 'Traceback' not in result.stderr


def test_the_checks(tmp_path):
    path = tmp_path / 'a.py'
    path.write_text('x = 1\n')
    assert existing_file('tool', 'CONFIG', str(path)) == str(path)
    assert config_file('tool', str(path)) == str(path)
    assert config_file('tool', 'mmdet::retinanet/retinanet_r50_fpn_1x_coco.py').endswith(
        'retinanet/retinanet_r50_fpn_1x_coco.py')
    with pytest.raises(MissingFileError, match=r"^tool: CONFIG '/no/such.py' does not "
                       r'exist$'):
        existing_file('tool', 'CONFIG', '/no/such.py')
    with pytest.raises(MissingFileError, match='is a directory, not a file'):
        existing_file('tool', 'IMAGE', str(tmp_path))
    with pytest.raises(TypeError, match='tool: CHECKPOINT must be a path, got int'):
        existing_file('tool', 'CHECKPOINT', 3)
    assert issubclass(MissingFileError, FileNotFoundError)
