"""``.tideflowignore`` follows gitignore: checked against ``git check-ignore`` itself."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tideflow.filesystems import IgnoreSpec

PATHS = [
    "flow.py",
    "README.md",
    "notes.log",
    "logs/keep.log",
    "logs/other.log",
    "logs/deep/x.log",
    "build/out.bin",
    "src/build/gen.py",
    "src/pkg/mod.py",
    "src/pkg/mod.pyc",
    "data/a.csv",
    "data/keep.csv",
    "data/sub/b.csv",
    "docs/a/b/c.md",
    "docs/index.md",
    "tmp/x",
    "a/tmp",
    "#hash.txt",
    "!bang.txt",
    "space .txt",
    "x[1].txt",
    "cache/one/two/three.bin",
    "foo/bar/baz/qux.txt",
    "foo/qux.txt",
]

PATTERN_SETS = [
    ["*.log", "!logs/keep.log"],
    ["/build/", "data/*", "!data/keep.csv"],
    ["build", "*.pyc"],
    ["**/deep/**", "docs/**/c.md"],
    ["foo/**/qux.txt"],
    ["tmp/"],
    ["tmp"],
    ["/tmp"],
    ["\\#hash.txt", "\\!bang.txt"],
    ["# a comment", "", "space\\ .txt"],
    ["x[0-9].txt", "x\\[1\\].txt"],
    ["cache/*/two"],
    ["*", "!*/", "!*.py"],
    ["data/", "!data/keep.csv"],  # cannot re-include inside an excluded directory
    ["?otes.log", "[!a-c]lo*/"],
    ["**/pkg", "!src/pkg/mod.py"],
    ["docs/*.md"],
]


def _git_ignored(repo: Path, patterns: list[str]) -> set[str]:
    (repo / ".gitignore").write_text("\n".join(patterns) + "\n")
    proc = subprocess.run(
        ["git", "check-ignore", "--no-index", "--stdin"],
        cwd=repo,
        input="\n".join(PATHS) + "\n",
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode in (0, 1), proc.stderr
    return {line for line in proc.stdout.splitlines() if line}


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("git") is None:
        pytest.fail("git is required for these tests")
    root = tmp_path_factory.mktemp("ignore-repo")
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    for rel in PATHS:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x")
    return root


@pytest.mark.parametrize("patterns", PATTERN_SETS, ids=lambda p: "|".join(p))
def test_matches_git_check_ignore(repo: Path, patterns: list[str]) -> None:
    spec = IgnoreSpec.from_lines(patterns)
    ours = {p for p in PATHS if spec.is_ignored(p)}
    assert ours == _git_ignored(repo, patterns)


def test_directory_only_patterns_need_is_dir() -> None:
    spec = IgnoreSpec.from_lines(["out/"])
    assert spec.match("out", is_dir=True)
    assert not spec.match("out", is_dir=False)
    assert spec.is_ignored("out/file.txt")


def test_crlf_lines_and_trailing_spaces() -> None:
    spec = IgnoreSpec.from_lines(["*.tmp \r\n", "keep\\ \r\n"])
    assert spec.match("a.tmp") and spec.match("keep ") and not spec.match("keep")
