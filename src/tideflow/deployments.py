"""Deployments: a flow packaged to run on its own, as in ``prefect.deployments``.

A deployment names a flow's code (``entrypoint``, and ``storage`` or a local ``path``),
its default ``parameters``, a ``schedule``, the ``work_queue_name`` agents poll, and the
``infrastructure`` to run it on (``Process``). ``apply()`` registers it with the store;
the scheduler then creates its scheduled runs and agents run them.

Example:
    >>> from tideflow import flow
    >>> from tideflow.deployments import Deployment
    >>> from tideflow.orion.schemas.schedules import CronSchedule
    >>> @flow
    ... def process_data(date: str = None):
    ...     return date
    >>> deployment = Deployment.build_from_flow(
    ...     flow=process_data,
    ...     name="daily-data-processing",
    ...     schedule=CronSchedule("0 0 * * *"),
    ...     parameters={"date": None},
    ... )  # doctest: +SKIP
    >>> deployment_id = deployment.apply()  # doctest: +SKIP
"""

from __future__ import annotations

import inspect
import subprocess
import sys
import time
import typing
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    TypeAdapter,
    ValidationError,
    field_validator,
)

from tideflow.agent.code import storage_to_json
from tideflow.client import OrchestrationClient, get_client
from tideflow.exceptions import ObjectNotFound, ParameterTypeError, SignatureMismatchError
from tideflow.flows import Flow
from tideflow.infrastructure.process import Process
from tideflow.schedules import Schedule
from tideflow.schemas.core import FlowRun
from tideflow.schemas.deployments import (
    Catchup,
    DeploymentCreate,
    DeploymentFlowRunCreate,
)
from tideflow.states import TERMINAL_STATES

__all__ = ["Deployment", "load_flow_from_entrypoint", "run_deployment"]

_DEFAULT_IGNORE_FILE = ".tideflowignore"


class Deployment(BaseModel):
    """A deployment definition (what ``deployment build`` writes as YAML).

    Build one with :meth:`build_from_flow`, or load a YAML file with
    :meth:`load_from_yaml`; register it with :meth:`apply`.
    """

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    name: str
    flow_name: str
    version: str | None = None
    description: str | None = None
    tags: list[str] = Field(default_factory=list)
    schedule: Schedule | None = None
    is_schedule_active: bool = True
    catchup: Catchup = "latest"
    parameters: dict[str, Any] = Field(default_factory=dict)
    parameter_openapi_schema: dict[str, Any] | None = None
    work_queue_name: str = "default"
    infrastructure: Process = Field(default_factory=Process)
    #: a storage block, or its stored reference (``{"block_type_slug": ..., ...}``)
    storage: Any = None
    path: str | None = None
    entrypoint: str | None = None
    retries: int = 0
    retry_delay_seconds: float = 0.0

    _id: str | None = PrivateAttr(default=None)

    @field_validator("infrastructure", mode="before")
    @classmethod
    def _infrastructure(cls, value: Any) -> Any:
        return Process() if value is None else value

    @property
    def id(self) -> str | None:
        """The id given by the store once applied or loaded."""
        return self._id

    @property
    def full_name(self) -> str:
        """``flow-name/deployment-name``."""
        return f"{self.flow_name}/{self.name}"

    # ---------------------------------------------------------------- building

    @classmethod
    def build_from_flow(
        cls,
        flow: Flow[..., Any],
        name: str,
        version: str | None = None,
        schedule: Any = None,
        infrastructure: Process | dict[str, Any] | None = None,
        storage: Any = None,
        tags: list[str] | None = None,
        parameters: dict[str, Any] | None = None,
        work_queue_name: str = "default",
        description: str | None = None,
        path: str | None = None,
        entrypoint: str | None = None,
        apply: bool = False,
        *,
        is_schedule_active: bool = True,
        catchup: Catchup = "latest",
        skip_upload: bool = False,
        ignore_file: str | None = _DEFAULT_IGNORE_FILE,
        output: str | Path | None = None,
    ) -> Deployment:
        """A deployment of ``flow``; parameters are checked against its signature.

        Args:
            flow: the ``@flow`` to deploy.
            name: the deployment's name (unique per flow).
            schedule: a ``CronSchedule``, ``IntervalSchedule`` or ``RRuleSchedule``.
            infrastructure: where runs execute (default ``Process()``).
            storage: a storage block (``LocalFileSystem``, ``S3``, ``RemoteFileSystem``,
                ``GitRepository`` ...). The flow's directory is uploaded to it (except
                ``skip_upload`` or a read-only ``GitRepository``), honouring
                ``ignore_file`` (``.tideflowignore``). Without storage, agents run the
                code from ``path`` on their own machine.
            path: without storage, the code directory (default: the flow file's
                directory); with storage, the sub-path in the storage.
            entrypoint: ``"file.py:flow_function"`` relative to the code directory
                (default: found from the flow).
            apply: also register it (``apply()``).
            output: also write the YAML definition to this file.

        Raises:
            SignatureMismatchError: a parameter the flow does not take.
            ParameterTypeError: a parameter value that does not fit its type hint.
        """
        if not isinstance(flow, Flow):
            raise TypeError(f"build_from_flow needs a @flow, got {type(flow).__name__}")
        params = dict(parameters or {})
        check_flow_parameters(flow, params)
        local_root = Path(path).absolute() if storage is None and path else None
        if entrypoint is None:
            code_dir, entrypoint = flow_code_location(flow, local_root, git=_is_git(storage))
        else:
            code_dir = local_root or Path.cwd()
        code_path = str(code_dir) if storage is None else path
        deployment = cls(
            name=name,
            flow_name=flow.name,
            version=version or flow.version,
            description=description or flow.description,
            tags=list(tags or []),
            schedule=schedule,
            is_schedule_active=is_schedule_active,
            catchup=catchup,
            parameters=params,
            parameter_openapi_schema=parameter_schema(flow),
            work_queue_name=work_queue_name,
            infrastructure=(
                Process.model_validate(infrastructure)
                if isinstance(infrastructure, dict)
                else infrastructure or Process()
            ),
            storage=storage,
            path=code_path,
            entrypoint=entrypoint,
            retries=flow.retries,
            retry_delay_seconds=float(flow.retry_delay_seconds),
        )
        if storage is not None and not skip_upload:
            deployment.upload_to_storage(code_dir, ignore_file=ignore_file)
        if output is not None:
            deployment.to_yaml(output)
        if apply:
            deployment.apply()
        return deployment

    def upload_to_storage(
        self,
        local_path: str | Path | None = None,
        *,
        ignore_file: str | None = _DEFAULT_IGNORE_FILE,
    ) -> int:
        """Upload the code directory to the storage block; the number of files.

        A read-only storage (``GitRepository``) uploads nothing: push the code instead.
        """
        if self.storage is None:
            raise ValueError("This deployment has no storage block to upload to")
        if isinstance(self.storage, dict):
            from tideflow.agent.code import storage_from_json

            self.storage = storage_from_json(self.storage)
        put = getattr(self.storage, "put_directory", None)
        if put is None:
            raise TypeError(f"{type(self.storage).__name__} is not a storage block")
        source = Path(local_path) if local_path else Path.cwd()
        try:
            count: int = put(local_path=source, to_path=self.path or None, ignore_file=ignore_file)
        except NotImplementedError:
            return 0
        return count

    # ---------------------------------------------------------------- the store

    def to_create(self) -> DeploymentCreate:
        """The request that registers this deployment."""
        return DeploymentCreate(
            flow_name=self.flow_name,
            name=self.name,
            version=self.version,
            description=self.description,
            tags=self.tags,
            parameters=self.parameters,
            parameter_openapi_schema=self.parameter_openapi_schema,
            schedule=self.schedule,
            is_schedule_active=self.is_schedule_active,
            catchup=self.catchup,
            work_queue_name=self.work_queue_name,
            infrastructure=self.infrastructure.model_dump(mode="json"),
            storage=storage_to_json(self.storage),
            path=self.path,
            entrypoint=self.entrypoint,
            retries=self.retries,
            retry_delay_seconds=self.retry_delay_seconds,
        )

    def apply(self, upload: bool = False, *, client: OrchestrationClient | None = None) -> str:
        """Create or update the deployment in the store; returns its id.

        Args:
            upload: upload the code to storage first (``build_from_flow`` already did).
        """
        if upload and self.storage is not None:
            self.upload_to_storage()
        created = (client or get_client()).create_deployment(self.to_create())
        self._id = created.id
        return created.id

    def load(self, *, client: OrchestrationClient | None = None) -> bool:
        """Fill fields not set here from the stored deployment of the same flow and name.

        Returns whether one was found (Prefect's ``Deployment.load``).
        """
        try:
            stored = (client or get_client()).read_deployment_by_name(self.full_name)
        except ObjectNotFound:
            return False
        self._id = stored.id
        data = stored.model_dump()
        for field_name in type(self).model_fields:
            if field_name not in self.model_fields_set and field_name in data:
                setattr(self, field_name, _coerce(field_name, data[field_name]))
        return True

    # ---------------------------------------------------------------- YAML

    def to_yaml(self, path: str | Path) -> Path:
        """Write the definition as YAML (``tideflow deployment apply FILE`` reads it)."""
        data = self.model_dump(mode="json", exclude={"storage"})
        data["storage"] = storage_to_json(self.storage)
        target = Path(path)
        header = (
            "# tideflow deployment definition; register it with:\n"
            f"#   tideflow deployment apply {target.name}\n"
        )
        target.write_text(header + yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
        return target

    @classmethod
    def load_from_yaml(cls, path: str | Path) -> Deployment:
        """Read a definition written by ``to_yaml`` / ``deployment build``."""
        text = Path(path).read_text(encoding="utf-8")
        data = yaml.safe_load(text)
        if not isinstance(data, dict):
            raise ValueError(f"{path}: expected a YAML mapping of deployment fields")
        return cls.model_validate(data)


def _coerce(field_name: str, value: Any) -> Any:
    if field_name == "infrastructure":
        return Process.model_validate(value or {})
    if field_name == "schedule" and value is not None:
        return TypeAdapter(Schedule).validate_python(value)
    return value


def check_flow_parameters(flow: Flow[..., Any], parameters: dict[str, Any]) -> None:
    """Refuse parameter names the flow does not take and values that miss their hints."""
    sig = flow.signature
    accepts_kwargs = any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values())
    named = [
        n for n, p in sig.parameters.items() if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]
    unknown = sorted(set(parameters) - set(named))
    if unknown and not accepts_kwargs:
        raise SignatureMismatchError(
            f"Flow {flow.name!r} has no parameter(s) {unknown}; it takes {named or 'no parameters'}"
        )
    if not flow.should_validate_parameters:
        return
    hints = _hints(flow)
    problems: list[str] = []
    for name, value in parameters.items():
        param = sig.parameters.get(name)
        if param is None or name not in hints or value is param.default:
            continue
        try:
            TypeAdapter(
                hints[name], config=ConfigDict(arbitrary_types_allowed=True)
            ).validate_python(value)
        except ValidationError as exc:
            reason = exc.errors()[0]["msg"] if exc.errors() else str(exc)
            problems.append(f"parameter {name!r} got {value!r}: {reason}")
        except Exception:  # a hint pydantic cannot check: leave it to the run
            continue
    if problems:
        raise ParameterTypeError(
            f"Flow {flow.name!r} received invalid parameters: " + "; ".join(problems)
        )


def _hints(flow: Flow[..., Any]) -> dict[str, Any]:
    try:
        return typing.get_type_hints(flow.fn)
    except Exception:
        return {
            n: p.annotation
            for n, p in flow.signature.parameters.items()
            if p.annotation is not inspect.Parameter.empty and not isinstance(p.annotation, str)
        }


def parameter_schema(flow: Flow[..., Any]) -> dict[str, Any]:
    """A JSON schema of the flow's parameters (names, types where expressible, defaults)."""
    properties: dict[str, Any] = {}
    required: list[str] = []
    extra = False
    hints = _hints(flow)
    for name, param in flow.signature.parameters.items():
        if param.kind is param.VAR_KEYWORD:
            extra = True
            continue
        if param.kind is param.VAR_POSITIONAL:
            continue
        prop: dict[str, Any] = {"title": name}
        if name in hints:
            try:
                prop.update(TypeAdapter(hints[name]).json_schema())
            except Exception:
                prop["description"] = f"type: {hints[name]!r}"
        if param.default is inspect.Parameter.empty:
            required.append(name)
        else:
            try:
                prop["default"] = TypeAdapter(Any).dump_python(param.default, mode="json")
            except Exception:
                prop["default"] = repr(param.default)
        properties[name] = prop
    schema: dict[str, Any] = {"title": "Parameters", "type": "object", "properties": properties}
    if required:
        schema["required"] = required
    if extra:
        schema["additionalProperties"] = True
    return schema


def flow_code_location(
    flow: Flow[..., Any], root: Path | None = None, *, git: bool = False
) -> tuple[Path, str]:
    """The code directory and the entrypoint ``"file.py:name"`` relative to it.

    The directory is ``root`` when given, else the top of the git work tree holding the
    flow's file when ``git`` (code pulled from a ``GitRepository``), else the file's
    directory.
    """
    source = inspect.getsourcefile(flow.fn)
    if source is None or not Path(source).is_file():
        raise ValueError(
            f"Cannot find the source file of flow {flow.name!r} (defined interactively?); "
            "pass path= and entrypoint= to build_from_flow"
        )
    file = Path(source).absolute()
    attr = getattr(flow.fn, "__name__", "flow")
    module = sys.modules.get(getattr(flow.fn, "__module__", "") or "")
    if module is not None:
        for key, value in vars(module).items():
            if value is flow:
                attr = key
                break
    if root is None:
        root = (_git_toplevel(file.parent) if git else None) or file.parent
    try:
        relative = file.relative_to(root)
    except ValueError:
        raise ValueError(
            f"The flow's file {str(file)!r} is not inside the code directory {str(root)!r}"
        ) from None
    return root, f"{relative.as_posix()}:{attr}"


def _is_git(storage: Any) -> bool:
    if isinstance(storage, dict):
        return storage.get("block_type_slug") == "git-repository"
    return type(storage).__name__ == "GitRepository"


def _git_toplevel(directory: Path) -> Path | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--show-toplevel"],
            cwd=directory,
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return Path(out.stdout.strip()).absolute() if out.stdout.strip() else None


def load_flow_from_entrypoint(entrypoint: str, base: str | Path | None = None) -> Flow[..., Any]:
    """Import ``"path/to/file.py:flow_function"`` and return the flow (Prefect's helper)."""
    from tideflow.agent.code import load_flow_from_entrypoint as load

    return load(entrypoint, Path(base) if base is not None else None)


def run_deployment(
    name: str,
    parameters: dict[str, Any] | None = None,
    *,
    timeout: float | None = None,
    scheduled_time: datetime | None = None,
    flow_run_name: str | None = None,
    tags: list[str] | None = None,
    idempotency_key: str | None = None,
    poll_interval: float = 0.5,
    client: OrchestrationClient | None = None,
) -> FlowRun:
    """Start a run of a deployment and (optionally) wait for it to finish.

    Args:
        name: ``"flow-name/deployment-name"``, or the deployment's id.
        parameters: merged over the deployment's default parameters.
        timeout: seconds to wait for a final state; ``None`` waits for ever, ``0``
            returns at once. Returns the run as it is when the time is up.
        scheduled_time: when the run is due (default now); an agent starts it then.
        flow_run_name, tags, idempotency_key: for the new run; the same
            ``idempotency_key`` twice gives the same run.
        poll_interval: seconds between state checks while waiting.

    Returns:
        The flow run (check ``.state_type`` / ``.state``).
    """
    client = client or get_client()
    if "/" in name:
        deployment = client.read_deployment_by_name(name)
    else:
        deployment = client.read_deployment(name)
    run = client.create_flow_run_from_deployment(
        deployment.id,
        DeploymentFlowRunCreate(
            parameters=dict(parameters or {}),
            scheduled_time=scheduled_time,
            name=flow_run_name,
            tags=tags,
            idempotency_key=idempotency_key,
        ),
    )
    if timeout is not None and timeout <= 0:
        return run
    deadline = None if timeout is None else time.monotonic() + timeout
    while run.state_type not in TERMINAL_STATES:
        remaining = None if deadline is None else deadline - time.monotonic()
        if remaining is not None and remaining <= 0:
            break
        time.sleep(poll_interval if remaining is None else min(poll_interval, remaining))
        run = client.read_flow_run(run.id)
    return run
