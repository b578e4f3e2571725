"""Flow code for deployments: storage references, downloading, loading entrypoints.

A deployment records *where its code is*:

- no storage: ``path`` is a local directory (absolute) and ``entrypoint`` a file in it,
  ``"flows/etl.py:etl_flow"``; the agent runs the flow from there.
- a storage block: the code was uploaded under ``path`` in the block (the block's root
  when ``path`` is empty); the agent downloads it into a fresh temporary directory for
  each run. A saved block is referenced by type and name (its secrets stay encrypted in
  the store); an unsaved one without secrets is stored inline.
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
import tempfile
from pathlib import Path
from typing import Any

from tideflow.blocks.core import Block, get_block_class
from tideflow.exceptions import TideflowError
from tideflow.flows import Flow
from tideflow.schemas.deployments import Deployment


class FlowLoadError(TideflowError):
    """A deployment's flow could not be downloaded or imported."""


def storage_to_json(storage: Any) -> dict[str, Any] | None:
    """How a deployment stores a reference to its storage block."""
    if storage is None:
        return None
    if isinstance(storage, dict):
        return storage
    if not isinstance(storage, Block):
        raise TypeError(
            f"storage must be a storage block (e.g. tideflow.filesystems.S3), "
            f"got {type(storage).__name__}"
        )
    slug = storage.get_block_type_slug()
    if storage.block_document_name:
        return {"block_type_slug": slug, "block_document_name": storage.block_document_name}
    data = storage.to_document_data()
    if data["secret_fields"]:
        raise ValueError(
            f"The {type(storage).__name__} storage block has secret fields "
            f"({', '.join(data['secret_fields'])}): save it first "
            f"(block.save('my-storage')) so the deployment refers to it by name and the "
            "secrets stay encrypted in the store"
        )
    return {"block_type_slug": slug, "data": data["fields"]}


def storage_from_json(data: dict[str, Any] | None) -> Block | None:
    """The storage block a deployment refers to (loaded from the store if saved)."""
    if not data:
        return None
    slug = data.get("block_type_slug")
    if not isinstance(slug, str):
        raise FlowLoadError(f"Deployment storage {data!r} has no block_type_slug")
    if data.get("block_document_name"):
        return get_block_class(slug).load(f"{slug}/{data['block_document_name']}")
    return get_block_class(slug).from_document({"data": {"fields": data.get("data") or {}}})


def prepare_code(deployment: Deployment, scratch: Path | None = None) -> Path:
    """The directory the deployment's entrypoint is relative to, downloading if needed.

    Args:
        deployment: the deployment.
        scratch: an empty directory to download into (default: a new temporary one,
            which the caller removes).
    """
    storage = storage_from_json(deployment.storage)
    if storage is None:
        if not deployment.path:
            raise FlowLoadError(
                f"Deployment {deployment.full_name!r} has neither storage nor a path: "
                "rebuild it with `tideflow deployment build`"
            )
        base = Path(deployment.path)
        if not base.is_dir():
            raise FlowLoadError(
                f"Deployment {deployment.full_name!r}: its code directory {str(base)!r} does "
                "not exist on this machine; give the deployment a storage block to run it "
                "on other machines"
            )
        return base
    target = scratch or Path(tempfile.mkdtemp(prefix="tideflow-code-"))
    try:
        storage.get_directory(from_path=deployment.path or None, local_path=target)  # type: ignore[attr-defined]
    except Exception as exc:
        raise FlowLoadError(
            f"Could not download the code of deployment {deployment.full_name!r} from "
            f"{type(storage).__name__}: {exc}"
        ) from exc
    return target


def load_flow_from_entrypoint(entrypoint: str, base: Path | None = None) -> Flow[..., Any]:
    """Import ``"path/to/file.py:flow_function"`` (relative to ``base``) and return the flow.

    ``base`` and the file's directory go on ``sys.path`` so the flow's own imports of
    sibling modules work. The module is imported under a private name, so its
    ``if __name__ == "__main__":`` block does not run.
    """
    file_part, sep, attr = entrypoint.rpartition(":")
    if not sep or not file_part or not attr:
        raise FlowLoadError(
            f"Entrypoint {entrypoint!r} is not valid: expected 'path/to/file.py:flow_function'"
        )
    root = (base or Path.cwd()).absolute()
    path = Path(file_part)
    if not path.is_absolute():
        path = root / path
    if not path.is_file():
        raise FlowLoadError(f"Entrypoint file {str(path)!r} does not exist")
    for entry in (str(path.parent), str(root)):
        if entry not in sys.path:
            sys.path.insert(0, entry)
    digest = hashlib.sha256(str(path).encode()).hexdigest()[:12]
    name = f"tideflow_entrypoint_{path.stem}_{digest}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise FlowLoadError(f"Cannot import {str(path)!r} as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[name]
        raise FlowLoadError(f"Importing {str(path)!r} failed: {type(exc).__name__}: {exc}") from exc
    obj = getattr(module, attr, None)
    if obj is None:
        raise FlowLoadError(f"{str(path)!r} has no attribute {attr!r}")
    if not isinstance(obj, Flow):
        raise FlowLoadError(
            f"{attr!r} in {str(path)!r} is a {type(obj).__name__}, not a flow; "
            "decorate it with @flow"
        )
    return obj
