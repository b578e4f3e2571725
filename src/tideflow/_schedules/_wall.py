"""From local wall-clock times to instants, across DST gaps and folds.

Cron and RRULE describe *wall-clock* times ("02:30 every day in New York"). Some wall
times do not exist (the spring-forward gap) and some happen twice (the fall-back fold),
so one wall time maps to zero, one or two instants, and walking wall times in order does
not always walk instants in order (02:30 shifted past the gap lands after 03:00). This
module does the mapping and puts the instants back in order.

All instants here are aware datetimes in UTC; wall times are naive datetimes.
"""

from __future__ import annotations

import datetime as dt
import heapq
from collections.abc import Iterable, Iterator
from functools import lru_cache
from typing import Literal
from zoneinfo import ZoneInfo

from tideflow._schedules._base import UTC

_ZERO = dt.timedelta(0)
_SAMPLE_STEP = dt.timedelta(hours=6)
# Offsets are sampled +-30 hours around an instant: that covers every real transition
# (the largest, Samoa's and Kwajalein's date-line moves, are 24 hours).
_SAMPLES = range(-5, 6)

Gap = Literal["shift", "skip"]
Fold = Literal["first", "both"]


def offset_range(tz: ZoneInfo, instant: dt.datetime) -> tuple[dt.timedelta, dt.timedelta]:
    """The smallest and largest UTC offset ``tz`` uses within ~30 hours of ``instant``."""
    offsets = []
    for k in _SAMPLES:
        try:
            offset = (instant + k * _SAMPLE_STEP).astimezone(tz).utcoffset()
        except OverflowError:
            continue
        if offset is not None:
            offsets.append(offset)
    return min(offsets), max(offsets)


@lru_cache(maxsize=4096)
def _hourly_offset_range(tz: ZoneInfo, hour: dt.datetime) -> tuple[dt.timedelta, dt.timedelta]:
    # Instants of the same hour share their +-30 h sample window to within an hour,
    # and no transition is longer than 24 h, so one answer per hour is exact enough.
    return offset_range(tz, hour)


def earliest_wall(start: dt.datetime, tz: ZoneInfo) -> dt.datetime:
    """A wall time early enough that no wall time before it maps to an instant >= ``start``."""
    low, _ = offset_range(tz, start)
    return start.replace(tzinfo=None) + low


def localize(wall: dt.datetime, tz: ZoneInfo, *, gap: Gap, fold: Fold) -> list[dt.datetime]:
    """The instants (UTC) at which the wall time ``wall`` happens in ``tz``.

    Args:
        wall: a naive local time.
        tz: the zone it is read in.
        gap: for a wall time that does not exist, ``"shift"`` reads it with the UTC
            offset from before the gap (02:30 becomes 03:30 after a one-hour jump, as
            RFC 5545 section 3.3.5 prescribes); ``"skip"`` drops it.
        fold: for a wall time that happens twice, ``"first"`` keeps the first
            occurrence only; ``"both"`` keeps both.
    """
    naive = wall.replace(tzinfo=None, fold=0)
    first = naive.replace(tzinfo=tz).utcoffset()
    second = naive.replace(tzinfo=tz, fold=1).utcoffset()
    assert first is not None and second is not None
    if first == second:
        return [(naive - first).replace(tzinfo=UTC)]
    if first > second:  # a fold: the earlier offset is the first occurrence
        instants = [(naive - first).replace(tzinfo=UTC)]
        if fold == "both":
            instants.append((naive - second).replace(tzinfo=UTC))
        return instants
    if gap == "skip":
        return []
    return [(naive - first).replace(tzinfo=UTC)]


def in_instant_order(
    items: Iterable[tuple[dt.datetime, list[dt.datetime]]], tz: ZoneInfo
) -> Iterator[dt.datetime]:
    """Re-order ``(wall time, its instants)`` pairs, given by ascending wall time.

    Yields each distinct instant once, in ascending order. An instant waits in a small
    heap until the wall clock has run far enough past it that no later wall time can
    map to an earlier instant; away from DST transitions that is immediately.
    """
    heap: list[tuple[dt.datetime, dt.datetime, dt.timedelta]] = []
    last: dt.datetime | None = None
    for wall, instants in items:
        for instant in instants:
            # A later wall time w maps to w - offset(w); it cannot come before
            # `instant` once w - wall >= max offset nearby - this instant's offset.
            _, high = _hourly_offset_range(tz, instant.replace(minute=0, second=0, microsecond=0))
            slack = max(high - (wall - instant.replace(tzinfo=None)), _ZERO)
            heapq.heappush(heap, (instant, wall, slack))
        while heap and wall - heap[0][1] >= heap[0][2]:
            instant = heapq.heappop(heap)[0]
            if last is None or instant > last:
                last = instant
                yield instant
    while heap:
        instant = heapq.heappop(heap)[0]
        if last is None or instant > last:
            last = instant
            yield instant
