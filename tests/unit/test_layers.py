"""The architecture is checked, not hoped for: import-linter's layer contracts hold, a back-door
import breaks them, and no private name is imported across packages."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
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


def module_graph(src: Path = SRC) -> dict[str, set[str]]:
    """Every whyllm module -> the whyllm modules it imports, lazy and type-checking imports included."""
    modules = {}
    for path in src.rglob("*.py"):
        parts = path.relative_to(src.parent).with_suffix("").parts
        modules[".".join(parts[:-1]) if parts[-1] == "__init__" else ".".join(parts)] = path

    def resolve(name: str) -> str:
        while name and name not in modules:
            name = name.rsplit(".", 1)[0] if "." in name else ""
        return name

    graph: dict[str, set[str]] = {m: set() for m in modules}
    for module, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            ours = (node.module or "").startswith("whyllm") if isinstance(node, ast.ImportFrom) else False
            if isinstance(node, ast.ImportFrom) and node.level == 0 and ours:
                names = [f"{node.module}.{a.name}" for a in node.names]
                targets = [resolve(n) if n in modules else resolve(node.module) for n in names]
            elif isinstance(node, ast.Import):
                targets = [resolve(a.name) for a in node.names if a.name.startswith("whyllm")]
            else:
                continue
            graph[module].update(t for t in targets if t and t != module)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def layer_of(module: str, layers: list[list[str]]) -> int | None:
    for i, names in enumerate(layers):
        if any(module == n or module.startswith(n + ".") for n in names):
            return i
    return None


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    """Imports from a module to one in a higher layer of pyproject's layer contract."""
    import tomllib

    contract = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"][0]
    layers = [[n.strip() for n in entry.split("|")] for entry in contract["layers"]]
    out = []
    for module, targets in graph.items():
        mine = layer_of(module, layers)
        for target in targets:
            theirs = layer_of(target, layers)
            if mine is not None and theirs is not None and theirs < mine:
                out.append(f"{module} -> {target}")
    return sorted(out)


def test_no_import_circles_and_no_upward_imports():
    graph = module_graph()
    assert cycles(graph) == []
    assert upward_imports(graph) == []


def test_the_circle_and_upward_checks_catch_a_planted_import(tmp_path):
    shutil.copytree(SRC, tmp_path / "whyllm", ignore=shutil.ignore_patterns("__pycache__"))
    cache = tmp_path / "whyllm" / "models" / "cache.py"
    planted = "\n\ndef _planted():\n    from whyllm.models.base import LanguageModel\n"
    cache.write_text(cache.read_text() + planted)
    explanation = tmp_path / "whyllm" / "explanation.py"
    explanation.write_text(explanation.read_text() + "\n\ndef _planted():\n    import whyllm.report.html\n")
    graph = module_graph(tmp_path / "whyllm")
    assert ["whyllm.models.base", "whyllm.models.cache"] in cycles(graph)
    assert "whyllm.explanation -> whyllm.report.html" in upward_imports(graph)


def test_nothing_outside_models_reaches_into_a_model():
    """White-box code goes through the declared WhiteBox interface: no private attribute of anything
    but ``self``/``cls`` and no ``hasattr`` probing outside whyllm.models."""
    found = []
    for path in SRC.rglob("*.py"):
        if path.relative_to(SRC).parts[0] == "models":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            private = (isinstance(node, ast.Attribute) and node.attr.startswith("_")
                       and not node.attr.startswith("__")
                       and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")))
            probe = (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                     and node.func.id == "hasattr")
            if private or probe:
                found.append(f"{path.relative_to(SRC)}:{node.lineno}: {ast.unparse(node)}")
    assert found == []
