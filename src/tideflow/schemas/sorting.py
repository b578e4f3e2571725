"""Sort orders (plain enums, importable without pydantic)."""

from __future__ import annotations

from enum import StrEnum


class FlowRunSort(StrEnum):
    """Sort orders for flow runs."""

    START_TIME_DESC = "START_TIME_DESC"
    START_TIME_ASC = "START_TIME_ASC"
    EXPECTED_START_TIME_ASC = "EXPECTED_START_TIME_ASC"
    EXPECTED_START_TIME_DESC = "EXPECTED_START_TIME_DESC"
    CREATED_DESC = "CREATED_DESC"
    NAME_ASC = "NAME_ASC"
