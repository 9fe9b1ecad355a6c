"""The import contract (`[tool.importlinter]` in pyproject.toml): the core imports nothing of the
outside, rule documents sit below the logic over them, handlers reach the store only through
services, only the store imports pynamodb, only the store and outbound talk to AWS.

The contract is checked on the code as it is, and on temporary copies of it with one bad import
added each, so that a contract that checked nothing (a typo in a module name, a contract type
that matches no file) would fail here rather than pass."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("chalicelib", "local", "bench", "infra")
LINT = str(Path(sys.executable).with_name("lint-imports"))

CORE = "The core (domain, rules, errors) imports nothing of the outside"
LAYERS = "Rule documents (rules) sit below the logic over them (domain)"
HANDLERS = "Handlers reach the store only through services"
PYNAMODB = "Only the store imports pynamodb"
AWS = "Only the store and outbound talk to AWS"
CONTRACTS = (CORE, LAYERS, HANDLERS, PYNAMODB, AWS)


def _lint(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([LINT, "--no-cache", "--config", str(root / "pyproject.toml")], cwd=root,
                          capture_output=True, text=True, timeout=120, check=False)


def _copy(tmp_path: Path) -> Path:
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package,
                        ignore=lambda folder, names: [n for n in names if not (n.endswith(".py") or
                                                                               (Path(folder) / n).is_dir())])
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_code_keeps_every_contract() -> None:
    result = _lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    for name in CONTRACTS:
        assert f"{name} KEPT" in result.stdout, result.stdout


def test_a_copy_of_the_code_keeps_them_too(tmp_path: Path) -> None:
    """The copies below differ from this one by their one bad import only."""
    result = _lint(_copy(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(("module", "line", "broken"), [
    ("chalicelib/domain/lead.py", "import boto3", CORE),
    ("chalicelib/domain/ownership.py", "from chalice.app import Response", CORE),
    ("chalicelib/rules/profile.py", "from pynamodb.models import Model", CORE),
    ("chalicelib/errors.py", "from chalicelib.store import leads", CORE),
    ("chalicelib/rules/profile.py", "from chalicelib.domain import timeutil", LAYERS),
    ("chalicelib/handlers/leads.py", "from chalicelib.store import leads as lead_store", HANDLERS),
    ("chalicelib/auth.py", "from chalicelib.store.directory import get_user", HANDLERS),
    ("chalicelib/services/leads.py", "from pynamodb.attributes import UnicodeAttribute", PYNAMODB),
    ("local/env.py", "import pynamodb", PYNAMODB),
    ("chalicelib/handlers/imports.py", "import boto3", AWS),
    ("chalicelib/services/pool.py", "from botocore.exceptions import ClientError", AWS),
])
def test_a_bad_import_breaks_its_contract(tmp_path: Path, module: str, line: str, broken: str) -> None:
    root = _copy(tmp_path)
    target = root / module
    target.write_text(target.read_text(encoding="utf-8") + f"\n{line}  # noqa\n", encoding="utf-8")
    result = _lint(root)
    assert result.returncode != 0, result.stdout
    assert f"{broken} BROKEN" in result.stdout, result.stdout
