"""``GitRepository`` cloning real local repositories made in a temp directory."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tideflow.filesystems import GitRepository

GIT_ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.com",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.com",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
}


def git(cwd: Path, *args: str) -> str:
    proc = subprocess.run(
        ["git", *args], cwd=cwd, env=GIT_ENV, capture_output=True, text=True, check=True
    )
    return proc.stdout.strip()


def commit(repo: Path, files: dict[str, str], message: str) -> str:
    for rel, text in files.items():
        path = repo / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


@pytest.fixture
def repo(tmp_path: Path) -> dict[str, str]:
    """main: v1 (tagged v1.0) then v2; branch 'feature' from v1 with its own change."""
    root = tmp_path / "origin"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    first = commit(root, {"flows/train.py": "VERSION = 1\n", "README.md": "r"}, "v1")
    git(root, "tag", "v1.0")
    git(root, "checkout", "-q", "-b", "feature")
    commit(root, {"flows/train.py": "VERSION = 'feature'\n"}, "feature")
    git(root, "checkout", "-q", "main")
    second = commit(root, {"flows/train.py": "VERSION = 2\n", "flows/util.py": "u"}, "v2")
    return {"path": str(root), "first": first, "second": second}


def version(directory: Path) -> str:
    return (directory / "flows/train.py").read_text().strip()


@pytest.mark.parametrize("form", ["path", "file-url"])
def test_clone_default_branch(repo: dict[str, str], tmp_path: Path, form: str) -> None:
    url = repo["path"] if form == "path" else Path(repo["path"]).as_uri()
    out = tmp_path / "out"
    GitRepository(url=url).get_directory(local_path=out)
    assert version(out) == "VERSION = 2"
    assert not (out / ".git").exists()
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == [
        "README.md",
        "flows/train.py",
        "flows/util.py",
    ]


@pytest.mark.parametrize(
    ("reference", "expected"),
    [("feature", "VERSION = 'feature'"), ("v1.0", "VERSION = 1"), ("main", "VERSION = 2")],
)
def test_clone_branch_or_tag(
    repo: dict[str, str], tmp_path: Path, reference: str, expected: str
) -> None:
    out = tmp_path / "out"
    GitRepository(url=Path(repo["path"]).as_uri(), reference=reference).get_directory(
        local_path=out
    )
    assert version(out) == expected


@pytest.mark.parametrize("length", [40, 10])
def test_clone_commit_sha(repo: dict[str, str], tmp_path: Path, length: int) -> None:
    out = tmp_path / "out"
    GitRepository(url=repo["path"], reference=repo["first"][:length]).get_directory(local_path=out)
    assert version(out) == "VERSION = 1"
    assert not (out / "flows/util.py").exists()


def test_from_path_and_read_path(repo: dict[str, str], tmp_path: Path) -> None:
    block = GitRepository(url=repo["path"], reference="v1.0")
    block.get_directory(from_path="flows", local_path=tmp_path / "out")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["train.py"]
    assert block.read_path("flows/train.py") == b"VERSION = 1\n"
    with pytest.raises(FileNotFoundError):
        block.read_path("flows/missing.py")
    for bad in ("../etc/passwd", "/etc/passwd", "%2e%2e/x", "flows\\..\\..\\x"):
        with pytest.raises(ValueError, match="Refusing path"):
            block.read_path(bad)
        with pytest.raises(ValueError, match="Refusing path"):
            block.get_directory(from_path=bad, local_path=tmp_path / "bad")


def test_saved_and_loaded(repo: dict[str, str], tmp_path: Path) -> None:
    GitRepository(url=repo["path"], reference="feature").save("training-code")
    GitRepository.load("training-code").get_directory(local_path=tmp_path / "out")
    assert version(tmp_path / "out") == "VERSION = 'feature'"


def test_unknown_reference_is_a_clear_error(repo: dict[str, str], tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match=r"git clone of .* failed"):
        GitRepository(url=repo["path"], reference="no-such-branch").get_directory(
            local_path=tmp_path / "out"
        )
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_symlink_in_repository_leaving_it_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "evil"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    (root / "outside-secret").write_text("nope")
    (tmp_path / "secret.txt").write_text("host secret")
    os.symlink(tmp_path / "secret.txt", root / "leak")
    os.symlink("../../../../../../../../../../etc/hostname", root / "leak2")
    commit(root, {"ok.py": "x"}, "evil")
    block = GitRepository(url=root.as_uri())
    with pytest.raises(ValueError, match="outside"):
        block.get_directory(local_path=tmp_path / "out")
    with pytest.raises(ValueError, match="outside"):
        block.read_path("leak")
    assert not (tmp_path / "out" / "leak").exists()


def test_submodules(repo: dict[str, str], tmp_path: Path) -> None:
    sub = tmp_path / "sub"
    sub.mkdir()
    git(sub, "init", "-q", "-b", "main")
    commit(sub, {"lib.py": "LIB = True\n"}, "lib")
    parent = tmp_path / "parent"
    parent.mkdir()
    git(parent, "init", "-q", "-b", "main")
    commit(parent, {"main.py": "m"}, "main")
    git(
        parent, "-c", "protocol.file.allow=always", "submodule", "add", "-q", sub.as_uri(), "vendor"
    )
    git(parent, "commit", "-q", "-m", "add submodule")
    with_subs = tmp_path / "with"
    GitRepository(url=parent.as_uri(), include_submodules=True).get_directory(local_path=with_subs)
    assert (with_subs / "vendor/lib.py").read_text() == "LIB = True\n"
    without = tmp_path / "without"
    GitRepository(url=parent.as_uri()).get_directory(local_path=without)
    assert not (without / "vendor/lib.py").exists()


@pytest.mark.parametrize(
    "url",
    [
        "ext::sh -c touch% /tmp/pwned",
        "fd::17",
        "--upload-pack=touch /tmp/pwned",
        "-oProxyCommand=x",
        "ftp://example.com/repo.git",
        "",
    ],
)
def test_dangerous_urls_are_refused(url: str) -> None:
    with pytest.raises(ValueError, match="Invalid git url"):
        GitRepository(url=url)


@pytest.mark.parametrize("reference", ["--upload-pack=x", "a b", "x\ny", ""])
def test_dangerous_references_are_refused(reference: str) -> None:
    with pytest.raises(ValueError, match="Invalid git reference"):
        GitRepository(url="https://example.com/r.git", reference=reference)


def test_access_token_is_secret_and_https_only(tideflow_home: Path) -> None:
    block = GitRepository(url="https://git.example.com/org/repo.git", access_token="ghp_SECRET")
    assert "ghp_SECRET" not in repr(block)
    block.save("private-repo")
    from tideflow.client import get_client

    fields = get_client().read_block_document("git-repository", "private-repo")["data"]["fields"]
    assert fields["access_token"] == "**********"
    env = GitRepository.load("private-repo")._git_env()
    assert any(v.startswith("Authorization: Basic ") for v in env.values())
    assert "ghp_SECRET" not in " ".join(env.values())  # base64 in a header, never the URL
    with pytest.raises(ValueError, match="https://"):
        GitRepository(url="git@github.com:org/repo.git", access_token="x")


def test_token_never_appears_in_errors(tmp_path: Path) -> None:
    block = GitRepository(url="http://127.0.0.1:9/repo.git", access_token="ghp_SECRET")
    with pytest.raises(RuntimeError) as info:
        block.get_directory(local_path=tmp_path / "out")
    assert "ghp_SECRET" not in str(info.value)


def test_read_only(repo: dict[str, str], tmp_path: Path) -> None:
    block = GitRepository(url=repo["path"])
    with pytest.raises(NotImplementedError, match="read-only"):
        block.write_path("x", b"y")
    with pytest.raises(NotImplementedError, match="read-only"):
        block.put_directory(local_path=tmp_path)
