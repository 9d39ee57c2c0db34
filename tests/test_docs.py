"""The documentation stays true when code moves: README.md is short, and every link and every
repository path that README.md and docs/*.md mention exists.

What is checked, in README.md and every ``docs/*.md`` (a "document"):

1. README.md has at most :data:`README_MAX_LINES` lines (the details live in ``docs/``), and
   links every page of ``docs/``.
2. Every relative markdown link, ``[text](target)`` or ``![alt](target)``, with or without a
   ``#anchor``, outside code (fenced blocks and inline code spans are not markdown), points to a
   file or folder that exists, relative to the document that holds the link, as GitHub resolves
   it; and its anchor names a heading of the target markdown file (an anchor alone, ``#x``,
   names one of the document's own). Links with a scheme (``https:``, ``mailto:``) are not
   followed. Anchors follow GitHub's rule: the heading's text (inline code without its
   backticks, a link as its text), lowercased, every character that is not a letter, digit,
   space, ``-`` or ``_`` removed, each space replaced by ``-``; a heading text that occurs again
   gets ``-1``, ``-2``, ... Headings inside fenced code blocks (a ``#`` comment) are not
   headings.
3. Every repository path written in code, in an inline code span or a fenced block
   (``python tools/train.py configs/demo/x.py``), exists. A path is a token that starts
   with one of :data:`REPO_DIRS` followed by ``/`` (and is not itself part of a longer path:
   ``~/.cache/mmattn/...`` and ``mmdet::retinanet/...`` are not this repository's); it ends at
   whitespace, a quote, a parenthesis, a comma, a colon, a semicolon or a backtick, and a trailing
   ``.`` is dropped. Paths are relative to the repository root wherever they are written
   (unlike links). Skipped, because they stand for many paths or for one the reader fills in:
   a path with a glob or placeholder character (``* ? [ ] { } < >``), with ``...``, or with a
   part in capitals such as ``CONFIG`` or ``DIR`` (``tools/model_converters/<family>2mmattn.py``,
   ``configs/det/*/``). Spell any other path out in full, on one line.

Each failure names the document, the line and the missing path, link or anchor, so that a
change that moves a file shows every page to update.
"""
import re
from pathlib import Path
from typing import Dict, Iterator, List, Tuple

import pytest

from tests.conftest import REPO_ROOT

README_MAX_LINES = 260
REPO_DIRS = ('mmattn', 'configs', 'tools', 'tests', 'docs', 'resources')

FENCE = re.compile(r'^\s*(```|~~~)')
CODE_SPAN = re.compile(r'(`+)(.+?)\1', re.DOTALL)
LINK = re.compile(r'!?\[((?:[^\[\]]|\[[^\[\]]*\])*)\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)')
HEADING = re.compile(r'^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$')
SCHEME = re.compile(r'^[a-zA-Z][a-zA-Z0-9+.-]*:')
PATH = re.compile(r'(?<![\w./~:-])((?:' + '|'.join(REPO_DIRS) + r')/[^\s`\'"(),;:]*)')
PLACEHOLDER = re.compile(r'[*?\[\]{}<>]|\.\.\.')
CAPITALS = re.compile(r'^[A-Z][A-Z0-9_]*$')


def documents() -> List[Path]:
    """README.md and every markdown page of docs/."""
    return [REPO_ROOT / 'README.md'] + sorted((REPO_ROOT / 'docs').glob('*.md'))


def doc_ids() -> List[str]:
    return [str(p.relative_to(REPO_ROOT)) for p in documents()]


def split_lines(text: str) -> Iterator[Tuple[int, str, bool]]:
    """(line number, line, whether the line is inside a fenced code block), fences excluded."""
    in_fence = False
    for number, line in enumerate(text.splitlines(), 1):
        if FENCE.match(line):
            in_fence = not in_fence
            continue
        yield number, line, in_fence


def paragraphs(text: str) -> Iterator[Tuple[int, str]]:
    """(first line number, text) of every paragraph outside fenced code blocks: inline code
    and links may wrap across the lines of a paragraph, never across paragraphs."""
    start, lines = 0, []
    for number, line, in_fence in list(split_lines(text)) + [(0, '', True)]:
        if in_fence or not line.strip():
            if lines:
                yield start, '\n'.join(lines)
            start, lines = 0, []
        else:
            start = start or number
            lines.append(line)


def line_of(start: int, paragraph: str, offset: int) -> int:
    return start + paragraph.count('\n', 0, offset)


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a heading (without the duplicate suffix)."""
    text = LINK.sub(lambda m: m.group(1), heading)
    text = CODE_SPAN.sub(lambda m: m.group(2), text)
    text = text.strip().lower()
    text = re.sub(r'[^\w\- ]', '', text)
    return text.replace(' ', '-')


def anchors(path: Path) -> List[str]:
    """Every anchor of the headings of a markdown file, duplicates numbered as GitHub does."""
    seen: Dict[str, int] = {}
    result = []
    for _, line, in_fence in split_lines(path.read_text()):
        match = None if in_fence else HEADING.match(line)
        if match is None:
            continue
        anchor = github_anchor(match.group(2))
        count = seen.get(anchor, 0)
        seen[anchor] = count + 1
        result.append(anchor if count == 0 else f'{anchor}-{count}')
    return result


def rel(path: Path) -> str:
    return str(path.relative_to(REPO_ROOT))


def test_github_anchor_rule():
    assert github_anchor('Install on a GPU cluster') == 'install-on-a-gpu-cluster'
    assert github_anchor('DANetPAM: memory linear in H*W') == 'danetpam-memory-linear-in-hw'
    assert github_anchor('`--attention`: any config') == '--attention-any-config'
    assert github_anchor('Plugin norms under `norm_eval`') == 'plugin-norms-under-norm_eval'
    assert github_anchor("ASFF in its paper's setting") == 'asff-in-its-papers-setting'
    assert github_anchor('[Configs](configs.md) and the zoo') == 'configs-and-the-zoo'


def test_readme_is_short():
    lines = (REPO_ROOT / 'README.md').read_text().splitlines()
    assert len(lines) <= README_MAX_LINES, (
        f'README.md has {len(lines)} lines, more than {README_MAX_LINES}: move details into '
        'a page of docs/ and link it')


def test_readme_links_every_docs_page():
    text = (REPO_ROOT / 'README.md').read_text()
    targets = {m.group(2).split('#')[0] for m in LINK.finditer(text)}
    missing = [rel(p) for p in sorted((REPO_ROOT / 'docs').glob('*.md'))
               if rel(p) not in targets]
    assert not missing, f'README.md links none of these docs pages: {missing}'


@pytest.mark.parametrize('doc', doc_ids())
def test_links_resolve(doc):
    path = REPO_ROOT / doc
    problems = []
    for start, paragraph in paragraphs(path.read_text()):
        # code spans blanked out, lengths and line breaks kept, so offsets stay the same
        prose = CODE_SPAN.sub(lambda m: re.sub(r'[^\n]', ' ', m.group(0)), paragraph)
        for match in LINK.finditer(prose):
            number = line_of(start, prose, match.start())
            target = match.group(2)
            if SCHEME.match(target):
                continue
            file_part, _, anchor = target.partition('#')
            target_path = (path.parent / file_part).resolve() if file_part else path
            where = f'{doc}:{number}: link {paragraph[match.start():match.end()]!r}'
            if not target_path.exists():
                problems.append(f'{where}: {file_part} does not exist '
                                f'(resolved to {target_path})')
            elif anchor and target_path.suffix == '.md' and anchor not in anchors(target_path):
                problems.append(f'{where}: {rel(target_path)} has no heading with the anchor '
                                f'#{anchor}')
            elif anchor and target_path.suffix != '.md':
                problems.append(f'{where}: an anchor into a file that is not markdown')
    assert not problems, '\n'.join(problems)


def code_texts(text: str) -> Iterator[Tuple[int, str]]:
    """(line number, code) for every fenced code line and every inline code span."""
    for number, line, in_fence in split_lines(text):
        if in_fence:
            yield number, line
    for start, paragraph in paragraphs(text):
        for match in CODE_SPAN.finditer(paragraph):
            yield line_of(start, paragraph, match.start()), match.group(2)


def repo_paths(code: str) -> Iterator[str]:
    """The repository paths a piece of code names, placeholders and globs skipped."""
    for match in PATH.finditer(code):
        path = match.group(1).rstrip('.')
        if PLACEHOLDER.search(path) or any(CAPITALS.match(part) for part in path.split('/')):
            continue
        yield path


def test_repo_path_rule():
    code = ("python tools/train.py configs/demo/x.py --work-dir work_dirs/demo "
            "tools/model_converters/<family>2mmattn.py CONFIG ~/.cache/mmattn/wheels/ "
            "mmdet::retinanet/retinanet_r50_fpn_1x_coco.py 'configs/det/a.py' "
            "configs/det/*/ tools/FOO/x.py mmattn/compat/.")
    assert list(repo_paths(code)) == [
        'tools/train.py', 'configs/demo/x.py', 'configs/det/a.py', 'mmattn/compat/']


@pytest.mark.parametrize('doc', doc_ids())
def test_repo_paths_exist(doc):
    path = REPO_ROOT / doc
    problems = [f'{doc}:{number}: `{p}` does not exist in the repository'
                for number, code in code_texts(path.read_text())
                for p in repo_paths(code) if not (REPO_ROOT / p).exists()]
    assert not problems, '\n'.join(problems)
