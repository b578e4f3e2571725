"""Every ```python block in docs/*.md runs, standalone, in a fresh process.

Each block gets its own working directory and its own ``TIDEFLOW_HOME``, and the
tideflow console script is on ``PATH`` (as in an activated virtualenv). A block preceded
by ``<!-- not-runnable -->`` is skipped: keep those rare (output samples, code that needs
a real cloud account).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"
NOT_RUNNABLE = "<!-- not-runnable -->"
FENCE = re.compile(r"^```python[ \t]*$\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)


@dataclass(frozen=True)
class Block:
    page: str
    line: int
    code: str
    runnable: bool

    @property
    def id(self) -> str:
        return f"{self.page}:{self.line}"


def extract_blocks(text: str, page: str) -> list[Block]:
    """The ```python blocks of one page, with their line numbers and skip markers."""
    blocks = []
    for match in FENCE.finditer(text):
        before = text[: match.start()].rstrip().splitlines()
        previous = before[-1].strip() if before else ""
        line = text.count("\n", 0, match.start()) + 1
        blocks.append(Block(page, line, match.group(1), previous != NOT_RUNNABLE))
    return blocks


def all_blocks() -> list[Block]:
    return [
        block
        for page in sorted(DOCS.glob("*.md"))
        for block in extract_blocks(page.read_text(encoding="utf-8"), page.name)
    ]


BLOCKS = all_blocks()


def test_extract_blocks_finds_fences_and_markers() -> None:
    text = (
        "# T\n\n```python\nprint(1)\n```\n\n<!-- not-runnable -->\n```python\nboom(\n```\n"
        "```bash\nls\n```\n"
    )
    first, second = extract_blocks(text, "t.md")
    assert (first.line, first.code, first.runnable) == (3, "print(1)\n", True)
    assert (second.line, second.code, second.runnable) == (8, "boom(\n", False)


@pytest.mark.parametrize("page", ["index.md", "quickstart.md", "flows-and-tasks.md", "cli.md"])
def test_core_pages_exist_and_have_runnable_code(page: str) -> None:
    assert (DOCS / page).exists()
    assert any(b.page == page and b.runnable for b in BLOCKS)


def test_links_between_pages_resolve() -> None:
    for page in DOCS.glob("*.md"):
        for target in re.findall(r"\]\(([\w./-]+\.md)(?:#[\w-]+)?\)", page.read_text()):
            assert (page.parent / target).exists(), f"{page.name} links to missing {target}"


@pytest.mark.parametrize("block", [b for b in BLOCKS if not b.runnable], ids=lambda b: b.id)
def test_docs_block_marked_not_runnable_still_compiles(block: Block) -> None:
    """Blocks that need the outside world (e.g. a public git host) are not run, but
    must stay valid Python."""
    compile(block.code, block.id, "exec")


@pytest.mark.parametrize("block", [b for b in BLOCKS if b.runnable], ids=lambda b: b.id)
def test_docs_block_runs(block: Block, tmp_path: Path) -> None:
    script = tmp_path / "block.py"
    script.write_text(block.code, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIDEFLOW_")}
    env["TIDEFLOW_HOME"] = str(tmp_path / "tideflow-home")
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    proc = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, (
        f"docs/{block.page} line {block.line} failed:\n{block.code}\n"
        f"--- stdout ---\n{proc.stdout}\n--- stderr ---\n{proc.stderr}"
    )
