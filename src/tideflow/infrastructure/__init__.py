"""Where a deployment's flow runs: ``Process`` (a local subprocess), as in
``prefect.infrastructure``.

Example:
    >>> from tideflow.infrastructure import Process
    >>> Process(env={"LOG_LEVEL": "DEBUG"}).type
    'process'
"""

from tideflow.infrastructure.process import Process, ProcessHandle

__all__ = ["Process", "ProcessHandle"]
