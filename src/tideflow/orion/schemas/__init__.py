"""Compatibility aliases for ``prefect.orion.schemas``."""

from tideflow.orion.schemas import schedules

__all__ = ["schedules"]
