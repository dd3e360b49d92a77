"""The translation core (ecs_operator.ecs) is pure: it never imports kopf or a Kubernetes client."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "operator" / "ecs_operator"
CORE = PACKAGE / "ecs"
FORBIDDEN = ("kopf", "kubernetes")
MODULES = sorted(CORE.glob("*.py"))


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """(level, absolute-or-relative module name) of every import in `path`, at any depth."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(0, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            found.append((node.level, node.module or ""))
    return found


def resolve(path: Path, level: int, module: str) -> str:
    """The absolute module name of an import in `path`."""
    if level == 0:
        return module
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    base = parts[:-level]
    return ".".join([*base, module] if module else base)


def test_there_are_core_modules() -> None:
    assert {p.name for p in MODULES} >= {"models.py", "translate.py", "cql.py", "normalize.py", "errors.py"}


@pytest.mark.parametrize("path", MODULES, ids=[p.name for p in MODULES])
def test_core_module_does_not_import_kopf_or_kubernetes(path: Path) -> None:
    bad = [resolve(path, level, module) for level, module in imported_modules(path)
           if resolve(path, level, module).split(".")[0] in FORBIDDEN]
    assert bad == [], f"{path.name} imports {bad}"


@pytest.mark.parametrize("path", MODULES, ids=[p.name for p in MODULES])
def test_core_module_imports_only_core_or_shared_modules(path: Path) -> None:
    """Relative imports out of the core reach only modules that are themselves free of kopf/kubernetes."""
    for level, module in imported_modules(path):
        name = resolve(path, level, module)
        if not name.startswith("ecs_operator.") or name.startswith("ecs_operator.ecs"):
            continue
        target = PACKAGE.parent / (name.replace(".", "/") + ".py")
        assert target.exists(), f"{path.name} imports {name}, which is not a module file"
        outside = [resolve(target, lv, m) for lv, m in imported_modules(target)]
        forbidden = [m for m in outside if m.split(".")[0] in FORBIDDEN]
        assert forbidden == [], f"{name} (imported by {path.name}) imports {forbidden}"


def test_core_imports_with_kopf_and_kubernetes_unavailable() -> None:
    """Importing every core module (and the offline plugin) works when kopf and kubernetes cannot be imported."""
    script = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('kopf', 'kubernetes'):\n"
        "            raise ImportError('blocked: ' + name)\n"
        "        return None\n"
        "sys.meta_path.insert(0, Block())\n"
        + "".join(f"import ecs_operator.ecs.{p.stem}\n" for p in MODULES if p.stem != "__init__")
        + "import ecs_operator.plugin\n"
        "print('ok')\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
