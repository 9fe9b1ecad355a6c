"""Tests run by layer: every test module says which one (`pytestmark`), and the layers are the
markers registered in pyproject.toml, so `make test-fast` (unit and moto) misses no fast test."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest

from tests.conftest import LAYERS, ROOT

pytestmark = pytest.mark.unit


def _layers_of(path: Path) -> set[str]:
    """The `pytest.mark.<layer>` names of a module's top-level `pytestmark` (one mark or a list)."""
    names: set[str] = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) \
            else []
        if any(isinstance(t, ast.Name) and t.id == "pytestmark" for t in targets) and node.value is not None:
            for sub in ast.walk(node.value):
                if isinstance(sub, ast.Attribute) and isinstance(sub.value, ast.Attribute) and sub.value.attr == "mark":
                    names.add(sub.attr)
    return names


def test_the_layers_are_registered_markers() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["pytest"]["ini_options"]
    registered = {line.split(":")[0] for line in config["markers"]}
    assert set(LAYERS) <= registered
    assert "--strict-markers" in config["addopts"]


def test_every_test_module_names_its_layer() -> None:
    modules = sorted((ROOT / "tests").glob("test_*.py"))
    assert len(modules) > 40
    unmarked = [path.name for path in modules if not _layers_of(path) & set(LAYERS)]
    assert not unmarked, f"add `pytestmark = pytest.mark.<{'|'.join(LAYERS)}>` to {unmarked}"


def test_the_check_sees_a_module_without_a_layer(tmp_path: Path) -> None:
    marked = tmp_path / "test_marked.py"
    marked.write_text("import pytest\n\npytestmark = [pytest.mark.stack, pytest.mark.slow]\n", encoding="utf-8")
    bare = tmp_path / "test_bare.py"
    bare.write_text("import pytest\n\n\n@pytest.mark.unit\ndef test_x() -> None:\n    pass\n", encoding="utf-8")
    assert _layers_of(marked) == {"stack", "slow"}
    assert _layers_of(bare) == set()
