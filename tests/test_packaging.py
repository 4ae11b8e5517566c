"""The project installs from its own files: pyproject, environment.yml, Makefile, CI script."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
import yaml

tomllib = pytest.importorskip("tomllib")  # Python 3.11+; on 3.10 these checks are skipped


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[ ;]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def test_environment_yml_lists_the_same_packages_as_pyproject(root):
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    wanted = {_name(r): r for r in project["dependencies"] + project["optional-dependencies"]["dev"]}
    env = yaml.safe_load((root / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    listed = {_name(r): r for r in pip_section if not r.startswith("-e")}
    assert set(listed) == set(wanted), f"environment.yml vs pyproject: {set(listed) ^ set(wanted)}"
    for name, req in wanted.items():
        assert listed[name].replace(" ", "") == req.replace(" ", ""), f"{name}: {listed[name]!r} != {req!r}"
    assert "-e .[dev]" in pip_section, "environment.yml must install the project with its dev extra"


def test_required_packages_are_runtime_dependencies(root):
    deps = {_name(r) for r in tomllib.loads((root / "pyproject.toml").read_text())["project"]["dependencies"]}
    required = {"torch", "tiktoken", "matplotlib", "pandas", "datasets", "sqlglot", "ipywidgets",
                "jupyterlab", "tqdm", "safetensors"}
    assert required <= deps, f"missing runtime dependencies: {required - deps}"


def test_console_script_runs():
    out = subprocess.run([sys.executable, "-m", "t2sql_lib.cli", "presets"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "tiny" in out.stdout and "laptop" in out.stdout and "gpu" in out.stdout


def test_ci_runs_the_readme_test_command(root):
    readme = (root / "README.md").read_text()
    ci = (root / ".ci" / "run").read_text()
    assert "make test" in readme and "make test" in ci


def test_layout(root):
    for name in ("chapters", "t2sql_lib", "data", "figures", "tests", "benchmarks", "environment.yml",
                 "pyproject.toml", "README.md", ".gitignore", ".ci/run", "configs"):
        assert (root / name).exists(), f"{name} is missing from the top level"
    ignored = (root / ".gitignore").read_text()
    for pattern in ("data/raw/", "outputs/", ".venv/"):
        assert pattern in ignored
