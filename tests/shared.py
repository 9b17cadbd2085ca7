"""Where the read-only contract folder is, when this checkout has one beside it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

CONTRACT = Path(__file__).resolve().parents[2] / "shared" / "genesys-api"


def contract_json(relative: str) -> Any:
    """A JSON file of ../shared/genesys-api, or skip the test where the folder is absent."""
    path = CONTRACT / relative
    if not path.is_file():
        pytest.skip(f"{path} is absent (no ../shared beside this checkout)")
    return json.loads(path.read_text())
