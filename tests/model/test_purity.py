"""model/ is pure PyTorch: importing it, or any of its modules, never pulls in the web stack."""
import ast
import pathlib
import subprocess
import sys

import model

WEB = {"flask", "flask_cors", "gevent", "gunicorn", "werkzeug", "web"}


def test_no_web_imports_in_source():
    for path in pathlib.Path(model.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else []
            assert not {n.split(".")[0] for n in names} & WEB, f"{path.name} imports {names}"


def test_no_web_modules_after_import():
    code = ("import sys, pkgutil, importlib, model\n"
            "for m in pkgutil.iter_modules(model.__path__): importlib.import_module('model.' + m.name)\n"
            "print(sorted(n for n in sys.modules if n.split('.')[0] in %r))" % WEB)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
