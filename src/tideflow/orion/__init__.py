"""Compatibility namespace for code written against ``prefect.orion``.

Only the paths the seed uses live here (``tideflow.orion.schemas.schedules``); new code
should import from :mod:`tideflow.schedules`.
"""

__all__: list[str] = []
