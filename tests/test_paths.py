"""Paths as printed: no absolute path of the machine in what a notebook stores."""

from __future__ import annotations

from pathlib import Path

import pytest

from t2sql_lib.paths import display_path, project_root


def test_paths_inside_the_checkout_or_beside_it_print_relative(tmp_path, monkeypatch):
    root = project_root()
    assert root is not None
    assert display_path(root / "outputs" / "demo") == str(Path("outputs/demo"))
    assert display_path(root.parent / "shared" / "datasets") == str(Path("shared/datasets"))
    assert display_path("outputs/x") == "outputs/x"  # relative paths are kept as given
    monkeypatch.chdir(tmp_path)
    assert display_path(tmp_path / "run" / "model") == str(Path("run/model"))  # under the working folder


def test_a_path_elsewhere_prints_as_given(tmp_path):
    elsewhere = Path(tmp_path.anchor) / "no-such-folder-t2sql" / "x"
    root = project_root()
    if root is not None and root.parent == Path(tmp_path.anchor):
        pytest.skip("the checkout sits at the top of the disk: every path is beside it")
    assert display_path(elsewhere) == str(elsewhere)


def test_a_linked_folder_beside_the_checkout_prints_relative(tmp_path, monkeypatch):
    import t2sql_lib.paths as paths

    (tmp_path / "real" / "datasets").mkdir(parents=True)
    (tmp_path / "repo").mkdir()
    (tmp_path / "shared").symlink_to(tmp_path / "real", target_is_directory=True)
    monkeypatch.setattr(paths, "project_root", lambda: tmp_path / "repo")
    monkeypatch.chdir(tmp_path / "repo")
    assert display_path(tmp_path / "shared" / "datasets") == str(Path("shared/datasets"))
