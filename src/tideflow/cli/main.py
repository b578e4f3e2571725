"""``tideflow`` — the root command. Each command group lives in its own module and is
registered here."""

from __future__ import annotations

import typer

from tideflow import __version__

app = typer.Typer(
    name="tideflow",
    help="tideflow: workflow orchestration for ML and data pipelines.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def main() -> None:
    """tideflow: workflow orchestration for ML and data pipelines."""


@app.command()
def version() -> None:
    """Print tideflow's version."""
    typer.echo(__version__)


def _register() -> None:
    # Command groups; each module defines `app` (a typer.Typer) and its NAME.
    from tideflow.cli import groups

    for name, sub in groups.all_groups():
        app.add_typer(sub, name=name)


_register()

if __name__ == "__main__":
    app()
