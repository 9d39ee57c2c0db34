"""The docs' module tables are the generator's: one home for each module's facts (its class)."""
from mmattn.zoo import docs_blocks, fill_blocks
from tests.conftest import REPO_ROOT


def test_the_generated_tables_of_the_docs_equal_the_generator():
    for rel, blocks in docs_blocks().items():
        text = (REPO_ROOT / rel).read_text(encoding='utf-8')
        assert fill_blocks(text, blocks, rel) == text, (
            f'{rel}: a generated table differs; run python tools/misc/gen_configs.py')
