"""Imports run one way: face -> library -> landing -> pipeline -> {jobs, sinks, audit}."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

TOOL = Path(__file__).resolve().parent.parent / "tools" / "layers.py"


def load_tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("layers", TOOL)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_no_module_imports_against_the_layers() -> None:
    assert load_tool().violations() == []


def test_an_upward_import_is_found(tmp_path: Path) -> None:
    layers = load_tool()
    assert not layers.allowed("jobs.users", "pipeline")
    assert not layers.allowed("jobs.reports", "sinks.base")
    assert not layers.allowed("sinks.duckdb", "jobs.lifecycle")
    assert not layers.allowed("pipeline", "exporter")
    assert not layers.allowed("chunks", "pipeline")
    assert not layers.allowed("exporter", "simulator.server")
    assert layers.allowed("pipeline", "jobs.lifecycle")
    assert layers.allowed("jobs.users", "jobs.lifecycle")
    assert layers.allowed("cli", "simulator")


def test_display_libraries_stay_in_the_face() -> None:
    """rich and click load only where the command line prints (the library never does)."""
    assert load_tool().display_imports() == []


def test_the_edges_include_function_level_imports() -> None:
    edges = set(load_tool().edges())
    assert ("cli_support", "exporter") in edges  # imported inside a function
    assert ("jobs.conversations", "chunks") in edges


def test_no_module_is_over_500_lines() -> None:
    """A module past ~500 lines holds two ideas (the simulator's vocabulary data excepted)."""
    src = TOOL.parent.parent / "src" / "genesys_export"
    sizes = {
        str(path.relative_to(src)): len(path.read_text(encoding="utf-8").splitlines())
        for path in src.rglob("*.py")
        if path.relative_to(src) != Path("simulator", "vocabulary.py")
    }
    assert {name: n for name, n in sizes.items() if n > 500} == {}
