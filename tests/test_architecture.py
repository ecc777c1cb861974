"""The shape of the code: import layers (lint-imports), function and module sizes, no zoo imports
hidden inside functions. Each test prints every offender, file:line, so one run lists all the work."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ZOO = ROOT / "zoo"
MAX_FUNCTION_LINES = 80
MAX_MODULE_LINES = 500


def _modules() -> list[Path]:
    return sorted(ZOO.rglob("*.py"))


def _rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def _functions(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield node


def long_functions() -> list[str]:
    out = []
    for path in _modules():
        for fn in _functions(ast.parse(path.read_text(), str(path))):
            start = min([fn.lineno, *(d.lineno for d in fn.decorator_list)])
            n = fn.end_lineno - start + 1
            if n > MAX_FUNCTION_LINES:
                out.append(f"{_rel(path)}:{fn.lineno} {fn.name}() is {n} lines")
    return out


def long_modules() -> list[str]:
    out = []
    for path in _modules():
        n = len(path.read_text().splitlines())
        if n > MAX_MODULE_LINES:
            out.append(f"{_rel(path)} is {n} lines")
    return out


def _is_zoo_import(node: ast.AST) -> str | None:
    if isinstance(node, ast.ImportFrom):
        if node.level > 0 or (node.module or "").split(".")[0] == "zoo":
            return "." * node.level + (node.module or "")
    elif isinstance(node, ast.Import):
        names = [a.name for a in node.names if a.name.split(".")[0] == "zoo"]
        return names[0] if names else None
    return None


def zoo_imports_in_functions() -> list[str]:
    """zoo's own modules imported inside a function (a hidden cycle, or a layer skipped). Deferring a heavy
    third-party library inside a function is allowed (with a comment); deferring zoo's own code is not."""
    out = []
    for path in _modules():
        for fn in _functions(ast.parse(path.read_text(), str(path))):
            for node in ast.walk(fn):
                target = _is_zoo_import(node)
                if target is not None:
                    out.append(f"{_rel(path)}:{node.lineno} {fn.name}() imports {target}")
    return sorted(set(out))


def _check(offenders: list[str], what: str) -> None:
    if offenders:
        print(f"{len(offenders)} {what}:", *offenders, sep="\n  ")
    assert not offenders, f"{len(offenders)} {what} (listed above): " + "; ".join(offenders[:5])


def test_no_function_over_80_lines():
    _check(long_functions(), f"functions over {MAX_FUNCTION_LINES} lines")


def test_no_module_over_500_lines():
    _check(long_modules(), f"modules over {MAX_MODULE_LINES} lines")


def test_no_zoo_imports_inside_functions():
    _check(zoo_imports_in_functions(), "imports of zoo modules inside functions")


def test_size_checks_catch_offenders(tmp_path, monkeypatch):
    """The checks above can fail: a long function and a long module in a fake tree are both reported."""
    fake = tmp_path / "zoo"
    fake.mkdir()
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_FUNCTION_LINES))
    (fake / "big.py").write_text(f"def f():\n{body}\n" + "\n" * MAX_MODULE_LINES)
    (fake / "hidden.py").write_text("def g():\n    from . import big\n    return big\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    monkeypatch.setattr(sys.modules[__name__], "ZOO", fake)
    assert long_functions() == [f"zoo/big.py:1 f() is {MAX_FUNCTION_LINES + 1} lines"]
    assert long_modules() == [f"zoo/big.py is {MAX_FUNCTION_LINES + 1 + MAX_MODULE_LINES} lines"]
    assert zoo_imports_in_functions() == ["zoo/hidden.py:2 g() imports ."]


def _lint_imports() -> str | None:
    exe = Path(sys.executable).with_name("lint-imports")
    return str(exe) if exe.exists() else shutil.which("lint-imports")


@pytest.mark.skipif(_lint_imports() is None, reason="import-linter is not installed (pip install 'zoo[test]')")
def test_import_layers():
    """The layers contract in pyproject.toml ([tool.importlinter]) holds: imports point down only."""
    r = subprocess.run([_lint_imports(), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    print(r.stdout[-6000:], r.stderr[-2000:])
    assert r.returncode == 0, "lint-imports: " + (r.stdout.split("Broken contracts", 1)[-1][-3000:])
