"""Flow code pulled from storage by the agent: a local git repository, and S3 (a real
moto server on loopback). The flow records where it ran, so the tests can check the code
came from a fresh download and not from the author's directory."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from blockkit import AWS_KEY, AWS_SECRET, S3Server, bucket, moto_s3
from deploykit import agent_thread, deploy, wait_final, write_flow
from tideflow.agent.code import load_flow_from_entrypoint
from tideflow.client import get_client
from tideflow.deployments import Deployment, run_deployment
from tideflow.filesystems import S3, GitRepository
from tideflow.states import StateType

__all__ = ["bucket", "moto_s3"]

pytestmark = pytest.mark.e2e

WHERE = """
from pathlib import Path
from helpers import greeting
from tideflow import flow

@flow
def where(out: str):
    Path(out).write_text(f"{greeting()}|{Path(__file__).resolve()}")
"""
HELPERS = """
def greeting():
    return "from storage"
"""


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=cwd, check=True, capture_output=True,
    )  # fmt: skip


def test_code_pulled_from_a_local_git_repository(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    write_flow(repo / "flows", WHERE, "where.py")
    write_flow(repo / "flows", HELPERS, "helpers.py")
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "flows")
    storage = GitRepository(url=str(repo), reference="main")
    storage.save("flows-repo")
    flow = load_flow_from_entrypoint("flows/where.py:where", repo)
    deployment = Deployment.build_from_flow(
        flow, "from-git", storage=GitRepository.load("flows-repo"),
        parameters={"out": str(tmp_path / "out.txt")},
    )  # fmt: skip
    assert deployment.entrypoint == "flows/where.py:where"
    assert deployment.to_create().storage == {
        "block_type_slug": "git-repository",
        "block_document_name": "flows-repo",
    }
    deployment.apply()
    run = run_deployment("where/from-git", timeout=0)
    with agent_thread():
        done = wait_final(run.id, timeout=90)
    assert done.state_type is StateType.COMPLETED, done.state_message
    greeting, ran_from = (tmp_path / "out.txt").read_text().split("|")
    assert greeting == "from storage"
    assert not ran_from.startswith(str(repo))


def test_code_uploaded_to_and_pulled_from_s3(
    tmp_path: Path, moto_s3: S3Server, bucket: str
) -> None:
    storage = S3(
        bucket_path=f"{bucket}/code",
        aws_access_key_id=AWS_KEY,
        aws_secret_access_key=AWS_SECRET,
        endpoint_url=moto_s3.endpoint_url,
    )
    with pytest.raises(ValueError, match="save it first"):
        Deployment(name="x", flow_name="where", storage=storage).to_create()
    storage.save("code-bucket")
    code = tmp_path / "code"
    write_flow(code, HELPERS, "helpers.py")
    (code / ".tideflowignore").write_text("secret.txt\n")
    (code / "secret.txt").write_text("do not upload")
    deploy(
        code, WHERE, "where", "from-s3", filename="where.py",
        storage=S3.load("code-bucket"), parameters={"out": str(tmp_path / "out.txt")},
    )  # fmt: skip
    keys = moto_s3.keys(bucket)
    assert "code/where.py" in keys and "code/helpers.py" in keys
    assert "code/secret.txt" not in keys
    stored = get_client().read_deployment_by_name("where/from-s3")
    assert stored.storage == {"block_type_slug": "s3", "block_document_name": "code-bucket"}
    run = run_deployment("where/from-s3", timeout=0)
    with agent_thread():
        done = wait_final(run.id, timeout=90)
    assert done.state_type is StateType.COMPLETED, done.state_message
    greeting, ran_from = (tmp_path / "out.txt").read_text().split("|")
    assert greeting == "from storage"
    assert not ran_from.startswith(str(code))
