"""The environment of a ``python -m whyllm`` subprocess in a test: this checkout's ``src`` first (not
whatever whyllm is installed), and the checkout itself so that ``py:tests....`` factories import."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def child_env(**extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)]), **extra}
