"""tools/check_stack.py, the last step of ``make setup``: "done" only on a stack that imports."""
import subprocess
import sys

from tests.conftest import REPO_ROOT

SCRIPT = REPO_ROOT / 'tools' / 'check_stack.py'


def test_the_installed_stack_passes_with_one_line():
    result = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    line = result.stdout.strip()
    for part in ('torch', 'numpy', 'mmengine', 'mmcv', 'mmdet', 'mmseg', 'mmattn'):
        assert f'{part} ' in line


def test_a_part_that_does_not_import_fails_with_a_sentence():
    # What an mmcv compiled for another torch does when its ops load.
    code = ('import sys, runpy\n'
            'class Broken:\n'
            '    def find_spec(self, name, path, target=None):\n'
            "        if name == 'mmcv._ext':\n"
            "            raise ImportError('mmcv/_ext.so: undefined symbol: _ZN3c10')\n"
            'sys.meta_path.insert(0, Broken())\n'
            f'runpy.run_path({str(SCRIPT)!r}, run_name="__main__")\n')
    result = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 1
    assert 'the stack does not import: ImportError' in result.stderr
    assert 'undefined symbol' in result.stderr
    assert 'imported before it: torch' in result.stderr and 'mmengine' in result.stderr
    assert 'built against another torch than torch' in result.stderr
