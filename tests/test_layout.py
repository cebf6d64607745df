"""The architecture as the folders show it: model/ (pure PyTorch) <- engine/ (no web framework) <- web/. Imports
run that way only, no module takes another's private name, and no modules import each other in a circle."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("model", "engine", "web", "bench", "scripts")
LAYERS = {"model": 0, "engine": 1, "web": 2}  # a module may import its own layer and those below


def _modules() -> dict[str, Path]:
    out = {}
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            parts = path.relative_to(REPO).with_suffix("").parts
            out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    out["gunicorn_config"] = REPO / "gunicorn_config.py"
    return out


MODULES = _modules()


def _imports(name: str, path: Path) -> list[tuple[str, list[str], int]]:
    """(imported module, names taken from it, line) for every import of a project module, relative ones resolved."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(a.name, [], node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(parent + ([base] if base else []))
            names = [a.name for a in node.names]
            # `from pkg import mod` imports a module; `from mod import name` takes a name
            found += [(f"{base}.{n}", [], node.lineno) for n in names if f"{base}.{n}" in MODULES]
            taken = [n for n in names if f"{base}.{n}" not in MODULES]
            if taken:
                found.append((base, taken, node.lineno))
    return [(mod, names, line) for mod, names, line in found if mod.split(".")[0] in (*PACKAGES, "gunicorn_config")]


def test_the_engine_imports_without_flask_or_gevent():
    code = "import sys, engine; bad = [m for m in ('flask', 'gevent', 'werkzeug') if m in sys.modules]; print(bad)"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_imports_run_web_to_engine_to_model_never_back():
    wrong = [f"{name}:{line} imports {mod}" for name, path in MODULES.items() if name.split(".")[0] in LAYERS
             for mod, _, line in _imports(name, path)
             if mod.split(".")[0] in LAYERS and LAYERS[mod.split(".")[0]] > LAYERS[name.split(".")[0]]]
    assert wrong == []


def test_no_private_name_is_imported_across_modules():
    private = [f"{name}:{line} takes {n} from {mod}" for name, path in MODULES.items()
               for mod, names, line in _imports(name, path) for n in names if n.startswith("_") and mod != name]
    assert private == []


def test_no_import_cycles():
    graph = {name: {mod for mod, _, _ in _imports(name, path) if mod in MODULES and mod != name}
             for name, path in MODULES.items()}
    cycles, state = [], {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                cycles.append(trail[trail.index(nxt):] + [nxt] if nxt in trail else [node, nxt])
            elif nxt not in state:
                visit(nxt, trail + [nxt])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert cycles == []
