"""tideflow's benchmarks: ``make bench`` (``python -m benchmarks.run``) and
``make bench-peers`` (``python -m benchmarks.peers``). See ``benchmarks/README.md``.

This package is imported by the workers running under *other* interpreters too (the
Prefect venv), so nothing here may import tideflow or any third-party package at
import time.
"""
