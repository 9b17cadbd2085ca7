"""The package's layers: module sizes, who imports whom, and every import against the grain.

    python tools/layers.py            # sizes and the layer graph; exit 1 on a violation
    python tools/layers.py --edges    # also every import edge between modules

Imports run one way: face -> library -> landing -> pipeline -> {jobs, sinks, audit} ->
foundation. Jobs, sinks and audit are siblings that never import one another (jobs from
jobs, sinks from sinks); within the other layers modules import each other freely, and
foundation modules import only foundation. The simulator stands apart: it imports
nothing of the client (tests/simulator checks that), and only the face starts it.
`tests/test_layers.py` runs `violations()` in the suite.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

PACKAGE = "genesys_export"
SRC = Path(__file__).resolve().parent.parent / "src" / PACKAGE

# Rank per layer: a module may import only lower ranks (or its own group, see above).
FACE, LIBRARY, LANDING, PIPELINE, WORKERS, FOUNDATION = 5, 4, 3, 2, 1, 0
LAYER_NAMES = {
    FACE: "face",
    LIBRARY: "library",
    LANDING: "landing",
    PIPELINE: "pipeline",
    WORKERS: "jobs | sinks | audit",
    FOUNDATION: "foundation",
}
LAYERS: dict[str, int] = {
    "__main__": FACE,
    "cli": FACE,
    "cli_support": FACE,
    "dagster": FACE,
    "demo": FACE,
    "live": FACE,
    "org_commands": FACE,
    "render": FACE,
    "__init__": LIBRARY,
    "check": LIBRARY,
    "days": LIBRARY,
    "exporter": LIBRARY,
    "notify": LIBRARY,
    "orgs": LIBRARY,
    "planning": LIBRARY,
    "reconcile": LIBRARY,
    "raw": LIBRARY,
    "sync": LIBRARY,
    "landing": LANDING,
    "pipeline": PIPELINE,
    "jobs": WORKERS,
    "sinks": WORKERS,
    "audit": WORKERS,
}


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    if parts[-1] == "__init__" and len(parts) > 1:
        parts = parts[:-1]
    return ".".join(parts)


def group(module: str) -> str:
    """`jobs.lifecycle` -> `jobs`; `pipeline` -> `pipeline`."""
    return module.split(".")[0]


def rank(module: str) -> int:
    return LAYERS.get(group(module), FOUNDATION)


def modules() -> dict[str, Path]:
    return {
        module_name(p): p for p in sorted(SRC.rglob("*.py")) if group(module_name(p)) != "simulator"
    }


def imports(path: Path) -> Iterator[str]:
    """Modules of the package that `path` imports, at any depth (function bodies too)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == PACKAGE:
                for alias in node.names:
                    yield alias.name
            elif node.module.startswith(PACKAGE + "."):
                yield node.module.removeprefix(PACKAGE + ".")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith(PACKAGE + "."):
                    yield alias.name.removeprefix(PACKAGE + ".")


def edges() -> list[tuple[str, str]]:
    known = modules()
    found = set()
    for name, path in known.items():
        for target in imports(path):
            while target not in known and "." in target:
                target = target.rsplit(".", 1)[0]
            if target != name:
                found.add((name, target))
    return sorted(found)


def allowed(source: str, target: str) -> bool:
    if group(target) == "simulator":
        return rank(source) == FACE
    if rank(target) < rank(source):
        return True
    return rank(target) == rank(source) and (
        rank(source) != WORKERS or group(target) == group(source)
    )


# Display libraries belong to the face: the library never prints.
FACE_ONLY = ("rich", "click")


def display_imports() -> list[tuple[str, str]]:
    """(module, library) for every module below the face that imports a display library."""
    found = []
    for name, path in modules().items():
        if rank(name) == FACE:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom) and node.level == 0
                else []
            )
            found += [(name, n) for n in names if n.split(".")[0] in FACE_ONLY]
    return sorted(set(found))


def violations() -> list[str]:
    upward = [
        f"{s} ({LAYER_NAMES[rank(s)]}) imports {t} ({LAYER_NAMES[rank(t)]})"
        for s, t in edges()
        if not allowed(s, t)
    ]
    display = [f"{s} ({LAYER_NAMES[rank(s)]}) imports {lib}" for s, lib in display_imports()]
    return upward + display


def main(argv: list[str]) -> int:
    known = modules()
    sizes = {
        name: len(path.read_text(encoding="utf-8").splitlines()) for name, path in known.items()
    }
    print(f"{'module':28} {'layer':20} {'lines':>5}")
    for name in sorted(known, key=lambda n: (-rank(n), n)):
        print(f"{name:28} {LAYER_NAMES[rank(name)]:20} {sizes[name]:5}")
    print(f"\n{len(known)} modules (simulator apart), largest {max(sizes.values())} lines")
    if "--edges" in argv:
        print()
        for s, t in edges():
            print(f"{s} -> {t}")
    bad = violations()
    print(f"\n{len(bad)} import(s) against the layers" + (":" if bad else ""))
    for line in bad:
        print("  " + line)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
