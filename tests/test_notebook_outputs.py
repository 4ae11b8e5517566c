"""Checked notebook outputs hold on every CPU: no line nbval compares prints the last bits of a float.

The convention (chapters/CONVENTIONS.md): a check prints a statement that holds everywhere (``within 1e-5: True``);
the measured number goes on a line that starts with ``[varies]``, which tests/nbval_sanitize.cfg masks.
"""

from __future__ import annotations

import configparser
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "chapters").glob("*.ipynb")) + sorted((ROOT / "chapters" / "solutions").glob("*.ipynb"))
# a measured float in scientific notation (a tolerance written as 1e-5 has no decimal point and is not one)
MEASURED = re.compile(r"(?<![\w.])[-+]?\d\.\d+[eE][-+]?\d+")


def sanitizers() -> list[tuple[re.Pattern, str]]:
    """The regex replacements nbval applies before comparing (tests/nbval_sanitize.cfg)."""
    cfg = configparser.RawConfigParser()
    cfg.read(ROOT / "tests" / "nbval_sanitize.cfg")
    return [(re.compile(cfg[s]["regex"]), cfg[s]["replace"]) for s in cfg.sections()]


def is_bf16_loss(line: str) -> bool:
    """A line that prints a loss with decimals and says it was trained in bf16."""
    lower = line.lower()
    return "bf16" in lower and "loss" in lower and re.search(r"\d\.\d", line) is not None


def fragile_lines(text: str, subs: list[tuple[re.Pattern, str]]) -> list[str]:
    """Lines of a checked output that depend on floating-point rounding after sanitizing: a measured float below
    1e-3 in scientific notation (rounding noise, zero included), or a loss trained in bf16."""
    found = []
    for line in text.splitlines():
        for regex, replace in subs:
            line = regex.sub(replace, line)
        if any(abs(float(m)) < 1e-3 for m in MEASURED.findall(line)) or is_bf16_loss(line):
            found.append(line)
    return found


def checked_outputs(path: Path):
    """``(cell index, text)`` of every output nbval compares (cells without NBVAL_IGNORE_OUTPUT or NBVAL_SKIP)."""
    for i, cell in enumerate(json.loads(path.read_text(encoding="utf-8"))["cells"]):
        source = "".join(cell["source"])
        if cell["cell_type"] != "code" or "NBVAL_IGNORE_OUTPUT" in source or "NBVAL_SKIP" in source:
            continue
        for out in cell.get("outputs", []):
            text = out.get("text") if out.get("output_type") == "stream" else out.get("data", {}).get("text/plain")
            if text:
                yield i, "".join(text)


def test_the_rule_catches_rounding_noise_and_lets_the_convention_through():
    subs = sanitizers()
    assert fragile_lines("max |merged - unmerged| = 4.3e-06", subs)
    assert fragile_lines("largest difference 0.0e+00", subs)
    assert fragile_lines("step 200: train loss 1.2345 (bf16)", subs)
    assert not fragile_lines("merged equals unmerged within 1e-5: True", subs)
    assert not fragile_lines("[varies] max |merged - unmerged| = 4.3e-06", subs)
    assert not fragile_lines("learning rate 3.0e-03, loss 2.3456", subs)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_checked_output_prints_rounding_noise(path):
    subs = sanitizers()
    bad = [f"cell {i}: {line}" for i, text in checked_outputs(path) for line in fragile_lines(text, subs)]
    assert not bad, f"{path.name}: outputs that differ between CPUs (see chapters/CONVENTIONS.md):\n" + "\n".join(bad)


# an absolute path of a machine: a Unix home, temporary or working folder, a macOS user folder, a Windows drive
MACHINE_PATH = re.compile(r"(?<![\w.:/])(?:/(?:home|Users|tmp|private|work|root|mnt|var/folders)/|[A-Z]:\\)")


def all_outputs(path: Path):
    """``(cell index, text)`` of every stored text output, compared or not."""
    for i, cell in enumerate(json.loads(path.read_text(encoding="utf-8"))["cells"]):
        for out in cell.get("outputs", []):
            text = out.get("text") if out.get("output_type") == "stream" else out.get("data", {}).get("text/plain")
            if text:
                yield i, "".join(text)


def test_the_path_rule_catches_machine_paths():
    assert MACHINE_PATH.search("outputs in /tmp/ch07_x/base") and MACHINE_PATH.search("/home/ana/t2sql/outputs")
    assert MACHINE_PATH.search("C:\\Users\\ana") and MACHINE_PATH.search("under /work/shared/spider")
    assert not MACHINE_PATH.search("outputs in outputs/ch07/base; shared/datasets/spider/database")
    assert not MACHINE_PATH.search("/content/drive/MyDrive and https://github.com/home/x")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_stored_output_holds_a_path_of_the_machine(path):
    found = [(i, m.group(0)) for i, text in all_outputs(path) for m in MACHINE_PATH.finditer(text)]
    assert not found, f"{path.name}: machine paths in stored outputs (cell, path start): {found[:5]}"
