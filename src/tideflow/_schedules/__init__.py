"""Private implementation of :mod:`tideflow.schedules`.

- ``_base``: the error type, time-zone lookup and the ``get_dates`` window.
- ``_wall``: turning local wall-clock times into instants (DST gaps and folds).
- ``cron``, ``interval``, ``rrule`` (+ ``_rrule_parse``): the three schedule models.
"""
