"""Dagster is optional: the package imports and works without it, and nothing but the
`genesys_export.dagster` face imports it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.test_layers import load_tool

REPO = Path(__file__).resolve().parents[2]

# Every module of the package but the Dagster face, imported with `dagster` unimportable.
WITHOUT_DAGSTER = """
import importlib, pkgutil, sys

class NoDagster:
    def find_spec(self, name, path=None, target=None):
        if name == "dagster" or name.startswith("dagster."):
            raise ModuleNotFoundError(f"No module named {name!r}")
        return None

sys.meta_path.insert(0, NoDagster())
import genesys_export
names = [m.name for m in pkgutil.walk_packages(genesys_export.__path__, "genesys_export.")]
for name in names:
    if not name.startswith("genesys_export.dagster") and not name.endswith("__main__"):
        importlib.import_module(name)
try:
    import genesys_export.dagster
except ModuleNotFoundError as exc:
    print("refused:", exc)
print(len(names), "dagster" in sys.modules)
"""


def test_the_package_imports_without_dagster() -> None:
    """With `dagster` unimportable, every module but the Dagster face imports, and the face
    fails with ModuleNotFoundError naming dagster."""
    done = subprocess.run(
        [sys.executable, "-c", WITHOUT_DAGSTER],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )

    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert lines[0] == "refused: No module named 'dagster'"
    count, loaded = lines[1].split()
    assert int(count) > 50 and loaded == "False"


def test_nothing_but_the_face_imports_the_dagster_module() -> None:
    """No module outside `genesys_export.dagster` imports it (it is a face of its own)."""
    layers = load_tool()
    importers = [s for s, t in layers.edges() if layers.group(t) == "dagster"]
    assert importers and all(layers.group(s) == "dagster" for s in importers)
    assert layers.rank("dagster.definitions") == layers.FACE
