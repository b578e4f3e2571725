"""Exceptions raised by tideflow.

The tree::

    TideflowError                       root of every error tideflow raises on purpose
    ├── MissingContextError (RuntimeError)   get_run_logger() etc. called outside a run
    ├── ParameterTypeError (TypeError)       flow parameters failed validation
    ├── SignatureMismatchError (TypeError)   arguments do not bind to the function
    ├── UpstreamTaskError                    an upstream task run did not complete
    ├── MappingError (ValueError)            .map() got iterables of different lengths
    ├── CacheKeyError                        a cache_key_fn raised or returned a non-string
    ├── SerializationError (TypeError)       a result could not be (de)serialized
    ├── MissingResult                        a state has no result to return
    ├── FailedRun                            state.result() of a failed run without exception data
    ├── TaskTimeoutError (TimeoutError)      a task/flow exceeded timeout_seconds
    ├── ObjectNotFound (LookupError)         an id or name is unknown to the store
    ├── ObjectAlreadyExists                  a unique name is already taken
    ├── OrchestrationRejected                a state transition was refused by the rules
    │   └── RunAlreadyClaimed                another engine already started this run
    ├── UnsupportedStorageOperation (NotImplementedError)
    │                                        e.g. writing to a read-only git repository
    ├── StoreUnavailable                     the database or server cannot be reached
    └── AuthenticationError (PermissionError) the server refused the API key (HTTP 401/403)

    BaseException
    └── TideflowSignal                       control flow; `except Exception` cannot swallow it
        ├── Abort                            stop this run without recording a failure
        └── CancelledRun                     the run was cancelled from outside
"""

from __future__ import annotations


class TideflowError(Exception):
    """Root of tideflow's exceptions."""


class MissingContextError(TideflowError, RuntimeError):
    """A run context was needed (e.g. by ``get_run_logger``) but none is active."""


class ParameterTypeError(TideflowError, TypeError):
    """Flow parameters failed validation against the function's type hints."""


class SignatureMismatchError(TideflowError, TypeError):
    """Call arguments do not bind to the flow's or task's signature."""


class UpstreamTaskError(TideflowError):
    """An upstream task run did not complete, so this one cannot run."""


class MappingError(TideflowError, ValueError):
    """``Task.map`` was given iterables of different lengths or no iterable at all."""


class CacheKeyError(TideflowError):
    """A ``cache_key_fn`` raised or returned something other than a string or None."""


class SerializationError(TideflowError, TypeError):
    """A result could not be serialized or deserialized."""


class MissingResult(TideflowError):
    """A state has no result attached (it was not persisted or is not final)."""


class FailedRun(TideflowError):
    """Raised by ``State.result()`` for a failed run whose exception is not available."""


class TaskTimeoutError(TideflowError, TimeoutError):
    """A task or flow ran longer than its ``timeout_seconds``."""


class ObjectNotFound(TideflowError, LookupError):
    """An id or name is not known to the store."""


class ObjectAlreadyExists(TideflowError):
    """A unique name is already taken."""


class OrchestrationRejected(TideflowError):
    """A state transition was refused by the orchestration rules."""


class RunAlreadyClaimed(OrchestrationRejected):
    """Another engine already started this run."""


class UnsupportedStorageOperation(TideflowError, NotImplementedError):
    """A storage block cannot do this by design (a git repository is read-only; a block
    without ``delete_path`` cannot delete)."""


class StoreUnavailable(TideflowError):
    """The database or the tideflow server could not be reached."""


class AuthenticationError(TideflowError, PermissionError):
    """The tideflow server refused the request's API key (missing or wrong)."""


class InvalidRecords(TideflowError, ValueError):
    """The store refused records as invalid; writing them again cannot succeed."""


class TideflowSignal(BaseException):
    """Base for control-flow signals; deriving from BaseException keeps
    a user's ``except Exception`` from swallowing them."""


class Abort(TideflowSignal):
    """Stop this run without recording a failure (e.g. it was claimed elsewhere)."""


class CancelledRun(TideflowSignal):
    """The run was cancelled from outside."""
