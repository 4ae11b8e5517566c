"""Every chapter notebook follows the course conventions (chapters/CONVENTIONS.md)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

CHAPTERS = sorted((ROOT / "chapters").glob("[0-9][0-9]_*.ipynb"))


def _cells(path):
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


def _src(cell):
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def test_there_are_chapters():
    assert CHAPTERS, "no chapter notebooks under chapters/"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_opening_cells(path):
    cells = _cells(path)
    title = _src(cells[0])
    assert cells[0]["cell_type"] == "markdown" and title.startswith("# Chapter"), f"{path.name}: no title cell"
    assert "colab.research.google.com/github/" in title and path.name in title, f"{path.name}: no Colab badge"
    code = [_src(c) for c in cells if c["cell_type"] == "code"]
    assert "google.colab" in code[0] and "pip" in code[0], f"{path.name}: first code cell is not the set-up cell"
    assert "show_versions" in code[1], f"{path.name}: second code cell should print versions"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_committed_executed_with_recap_and_exercises(path):
    cells = _cells(path)
    code = [c for c in cells if c["cell_type"] == "code"]
    assert all(c.get("execution_count") for c in code if _src(c).strip()), f"{path.name}: not committed executed"
    errors = [o for c in code for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, f"{path.name}: committed with an error output"
    markdown = "\n".join(_src(c).lower() for c in cells if c["cell_type"] == "markdown")
    assert "recap" in markdown and "exercise" in markdown, f"{path.name}: needs a recap and exercises"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_badge_listed_in_readme(path):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert f"chapters/{path.name}" in readme, f"README has no entry (with a Colab badge) for {path.name}"


ALL_NOTEBOOKS = CHAPTERS + sorted((ROOT / "chapters" / "solutions").glob("*.ipynb"))


@pytest.mark.parametrize("path", ALL_NOTEBOOKS, ids=lambda p: p.name)
def test_the_colab_setup_cell_can_be_run_again(path):
    code = next(_src(c) for c in _cells(path) if c["cell_type"] == "code")
    lines = code.splitlines()
    depth = {key: next(len(x) - len(x.lstrip()) for x in lines if key in x) for key in ('"clone"', '"pip", "install"')}
    # the install is not under the clone's branch: running the cell again finishes an install that failed
    assert depth['"pip", "install"'] < depth['"clone"'], f"{path.name}: pip install runs only after a fresh clone"
    assert '/.git"' in code and "pull" in code, f"{path.name}: a failed clone is not cloned again, or a clone not updated"
