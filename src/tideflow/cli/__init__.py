"""The ``tideflow`` command line (typer + rich)."""
