"""The command line: a thin skin over the library."""

from __future__ import annotations

import click


@click.group()
def cli() -> None:
    """Genesys Cloud analytics exports into your own BI stack."""


def main() -> None:
    cli()
