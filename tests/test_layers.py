"""The architecture is checked, not hoped for: import-linter's layer contracts hold, a back-door
import breaks them, and no private name is imported across packages."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "whyllm"
LINT = Path(sys.executable).parent / "lint-imports"


def lint(cwd: Path, pythonpath: Path) -> subprocess.CompletedProcess:
    env = {"PYTHONPATH": str(pythonpath), "PATH": "/usr/bin:/bin"}
    return subprocess.run([str(LINT), "--config", str(cwd / "pyproject.toml"), "--no-cache"], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=300)


def test_layer_contracts_hold():
    out = lint(ROOT, ROOT / "src")
    assert out.returncode == 0, out.stdout[-3000:]
    assert "3 kept, 0 broken" in out.stdout


def test_an_api_import_in_a_wrapper_breaks_the_contracts(tmp_path):
    shutil.copytree(SRC, tmp_path / "whyllm", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    focus = tmp_path / "whyllm" / "compose" / "focus.py"
    focus.write_text(focus.read_text() + "\n\ndef _back_door():\n    from whyllm.api import explain\n"
                     "    return explain\n")
    out = lint(tmp_path, tmp_path)
    assert out.returncode == 1
    assert "whyllm.compose.focus -> whyllm.api" in out.stdout
    assert "BROKEN" in out.stdout


def test_no_private_name_is_imported_across_packages():
    found = []
    for path in SRC.rglob("*.py"):
        package = ".".join(path.relative_to(SRC.parent).with_suffix("").parts[:-1])
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("whyllm"):
                source_package = node.module.rsplit(".", 1)[0] if "." in node.module else node.module
                for alias in node.names:
                    private = alias.name.startswith("_") and not alias.name.startswith("__")
                    if private and source_package != package and node.module != package:
                        found.append(f"{path.relative_to(SRC)}: from {node.module} import {alias.name}")
    assert found == []


def test_documented_modules_are_reachable_after_import_whyllm():
    code = ("import whyllm; whyllm.metrics.rules.anchor_precision; whyllm.compose.proxy.screen_task; "
            "whyllm.targets.span; whyllm.fits.LimeFit; whyllm.neurons.NeuronSet; print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]
