"""S3 storage blocks against a real moto S3 server on loopback, and persisted results
written through saved storage blocks, read back from another process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from blockkit import AWS_KEY, AWS_SECRET, S3Server
from tideflow import flow, task
from tideflow.client import get_client
from tideflow.filesystems import S3, AwsCredentials, LocalFileSystem, S3Bucket
from tideflow.serializers import JSONSerializer


def _s3(moto_s3: S3Server, bucket_path: str) -> S3:
    return S3(
        bucket_path=bucket_path,
        aws_access_key_id=AWS_KEY,
        aws_secret_access_key=AWS_SECRET,
        endpoint_url=moto_s3.endpoint_url,
    )


def _bucket_block(moto_s3: S3Server, bucket: str, folder: str = "") -> S3Bucket:
    return S3Bucket(
        bucket_name=bucket,
        bucket_folder=folder,
        credentials=AwsCredentials(aws_access_key_id=AWS_KEY, aws_secret_access_key=AWS_SECRET),
        endpoint_url=moto_s3.endpoint_url,
    )


def _project(root: Path) -> Path:
    for rel, text in {
        "train.py": "print('train')\n",
        "lib/features.py": "X = 1\n",
        "lib/__pycache__/features.cpython-311.pyc": "bytecode",
        "data/raw.parquet": "big",
        ".git/config": "[core]",
        ".tideflowignore": "data/\n*.tmp\n",
        "scratch.tmp": "tmp",
    }.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_seed_s3_block_saved_loaded_and_used(
    moto_s3: S3Server, bucket: str, tmp_path: Path, tideflow_home: Path
) -> None:
    # The seed: S3(bucket_path="my-model-registry").save("model-storage"), then S3.load(...)
    _s3(moto_s3, f"{bucket}/models").save("model-storage")
    row = get_client().read_block_document("s3", "model-storage")
    assert row["data"]["fields"]["aws_secret_access_key"] == "**********"
    storage = S3.load("model-storage")
    assert storage.aws_secret_access_key is not None
    assert storage.aws_secret_access_key.get_secret_value() == AWS_SECRET

    storage.write_path("v1/model.bin", b"\x00weights")
    assert storage.read_path("v1/model.bin") == b"\x00weights"
    assert storage.exists("v1/model.bin") and not storage.exists("v1/nope")
    with pytest.raises(FileNotFoundError):
        storage.read_path("v1/nope")
    assert moto_s3.keys(bucket) == ["models/v1/model.bin"]

    count = storage.put_directory(local_path=_project(tmp_path / "proj"), to_path="code")
    assert count == 3
    assert moto_s3.keys(bucket) == [
        "models/code/.tideflowignore",
        "models/code/lib/features.py",
        "models/code/train.py",
        "models/v1/model.bin",
    ]
    out = tmp_path / "out"
    S3.load("model-storage").get_directory(from_path="code", local_path=out)
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == [
        ".tideflowignore",
        "lib/features.py",
        "train.py",
    ]
    assert (out / "lib/features.py").read_text() == "X = 1\n"


@pytest.mark.parametrize("bad", ["../other/key", "%2e%2e/key", "/abs", "a\\..\\..\\b", "a/../.."])
def test_s3_refuses_escaping_keys(moto_s3: S3Server, bucket: str, bad: str) -> None:
    storage = _s3(moto_s3, f"{bucket}/root")
    with pytest.raises(ValueError, match="Refusing path"):
        storage.write_path(bad, b"x")
    with pytest.raises(ValueError, match="Refusing path"):
        storage.read_path(bad)
    assert moto_s3.keys(bucket) == []


def test_malicious_s3_listing_cannot_write_outside(
    moto_s3: S3Server, bucket: str, tmp_path: Path
) -> None:
    client = moto_s3.client()
    client.put_object(Bucket=bucket, Key="code/ok.py", Body=b"ok")
    client.put_object(Bucket=bucket, Key="code/../../../escaped.py", Body=b"pwned")
    dest = tmp_path / "deep" / "dest"
    with pytest.raises(ValueError, match=r"Refusing path '\.\./\.\./\.\./escaped\.py'"):
        _s3(moto_s3, bucket).get_directory(from_path="code", local_path=dest)
    assert not any(p.name == "escaped.py" for p in tmp_path.rglob("*"))
    assert not (dest / "ok.py").exists()


def test_s3_bucket_folder_and_object_helpers(
    moto_s3: S3Server, bucket: str, tmp_path: Path
) -> None:
    block = _bucket_block(moto_s3, bucket, folder="team/results")
    block.write_path("a.json", b"{}")
    local = tmp_path / "model.pkl"
    local.write_bytes(b"pickle")
    assert block.upload_from_path(local, "models/model.pkl").endswith("models/model.pkl")
    assert block.list_objects() == ["a.json", "models/model.pkl"]
    assert block.list_objects("models") == ["models/model.pkl"]
    got = block.download_object_to_path("models/model.pkl", tmp_path / "dl/model.pkl")
    assert got.read_bytes() == b"pickle"
    assert moto_s3.keys(bucket) == ["team/results/a.json", "team/results/models/model.pkl"]
    with pytest.raises(ValueError, match="Refusing path"):
        _bucket_block(moto_s3, bucket, folder="../escape")


def test_seed_result_storage_with_s3_bucket_read_from_another_process(
    moto_s3: S3Server, bucket: str, tideflow_home: Path
) -> None:
    _bucket_block(moto_s3, bucket, folder="results").save("my-bucket")

    @task(
        persist_result=True,
        result_serializer=JSONSerializer(),
        result_storage=S3Bucket.load("my-bucket"),
    )
    def calculate_metrics(data: list[int]) -> dict[str, float]:
        return {"accuracy": 0.95, "precision": 0.92}

    @flow
    def evaluate() -> dict[str, float]:
        return calculate_metrics([1, 2, 3])

    assert evaluate() == {"accuracy": 0.95, "precision": 0.92}
    keys = moto_s3.keys(bucket)
    assert len(keys) == 1 and keys[0].startswith("results/")
    assert _result_in_subprocess(tideflow_home) == {"accuracy": 0.95, "precision": 0.92}


def test_result_storage_with_local_block_read_from_another_process(
    tmp_path: Path, tideflow_home: Path
) -> None:
    LocalFileSystem(basepath=str(tmp_path / "results")).save("local-results")

    @task(persist_result=True, result_storage=LocalFileSystem.load("local-results"))
    def compute() -> dict[str, Any]:
        return {"rows": 42}

    @flow
    def pipeline() -> dict[str, Any]:
        return compute()

    assert pipeline() == {"rows": 42}
    assert _result_in_subprocess(tideflow_home) == {"rows": 42}


def _result_in_subprocess(home: Path) -> Any:
    """A fresh interpreter that imports only ``tideflow`` loads the task's result."""
    script = textwrap.dedent(
        """
        import json
        import tideflow
        from tideflow.client import get_client
        from tideflow.schemas.filters import TaskRunFilter

        (run,) = get_client().read_task_runs(TaskRunFilter())
        print(json.dumps(run.state.result()))
        """
    )
    env = {**os.environ, "TIDEFLOW_HOME": str(home), "TIDEFLOW_LOGGING_LEVEL": "ERROR"}
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        env.pop(name, None)  # credentials must come from the saved block
    proc = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)
