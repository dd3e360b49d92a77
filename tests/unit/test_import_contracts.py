"""The import contracts (pyproject.toml, [tool.importlinter]) hold, and they catch a forbidden import.

The second test plants one in a copy of the package: a contract that cannot fail checks nothing."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"

pytestmark = pytest.mark.skipif(not LINT_IMPORTS.exists(), reason="import-linter is not installed")


def lint_imports(package_root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(LINT_IMPORTS), "--config", str(REPO / "pyproject.toml"), "--no-cache"],
                          cwd=REPO, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(package_root), "COLUMNS": "400"})


def test_the_tree_keeps_every_contract():
    result = lint_imports(REPO / "operator")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(("module", "planted", "contract"), [
    ("ecs/models.py", "import kubernetes.client", "The ECS core is pure"),
    ("api/tasks.py", "from ..controller import tasks as _reconciler", "never through the operator's runtime"),
    ("controller/events.py", "from ..frontends import kubectl as _front", "Nothing imports the front ends"),
    ("api/tasks.py", "import prometheus_client as _metrics", "Metrics belong to the processes"),
])
def test_a_forbidden_import_breaks_its_contract(tmp_path, module, planted, contract):
    copy = tmp_path / "ecs_operator"
    shutil.copytree(REPO / "operator" / "ecs_operator", copy, ignore=shutil.ignore_patterns("__pycache__"))
    target = copy / module
    target.write_text(target.read_text() + f"\n{planted}  # planted by the test\n")
    result = lint_imports(tmp_path)
    assert result.returncode != 0
    broken = [line for line in result.stdout.splitlines() if line.endswith("BROKEN")]
    assert any(contract in line for line in broken), result.stdout
