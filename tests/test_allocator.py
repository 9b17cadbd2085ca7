"""The CLI's choice of Arrow allocator: jemalloc where pyarrow has it, unless the user chose."""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa
import pytest
from click.testing import CliRunner

from genesys_export.cli import cli
from genesys_export.pipeline import prefer_lean_allocator


@pytest.fixture(autouse=True)
def restore_pool() -> Iterator[None]:
    before = pa.default_memory_pool()
    yield
    pa.set_memory_pool(before)


def lean_backend() -> str:
    try:
        return pa.jemalloc_memory_pool().backend_name
    except NotImplementedError:
        return "system"


def test_the_cli_switches_arrow_to_the_lean_allocator(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ARROW_DEFAULT_MEMORY_POOL", raising=False)
    pa.set_memory_pool(pa.mimalloc_memory_pool())

    result = CliRunner().invoke(cli, ["audit", "--help"])

    assert result.exit_code == 0
    assert pa.default_memory_pool().backend_name == lean_backend()


def test_a_pool_chosen_in_the_environment_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARROW_DEFAULT_MEMORY_POOL", "mimalloc")
    pa.set_memory_pool(pa.mimalloc_memory_pool())

    prefer_lean_allocator()

    assert pa.default_memory_pool().backend_name == "mimalloc"
