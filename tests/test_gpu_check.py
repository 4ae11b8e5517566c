"""``benchmarks/gpu_check.py --smoke``: the GPU check's code on the CPU at tiny sizes, end to end (about a minute)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "gpu_check.py"


def load_script():
    import importlib.util

    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["gpu_check"] = module  # its dataclass looks its module up by name
    spec.loader.exec_module(module)
    return module


def test_the_notebook_gets_one_added_cell_after_its_configuration():
    gc = load_script()
    nb = gc.notebook_with_cap(gc.for_run(True, gc.torch.device("cpu")), test_examples=3)
    sources = [c.source for c in nb.cells]
    (added,) = [i for i, s in enumerate(sources) if gc.INJECTED in s]
    assert "config = PipelineConfig(" in sources[added - 1]
    assert 'init="scratch"' in sources[added] and "train.max_steps=3" in sources[added]
    compile(sources[added], "added cell", "exec")


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_smoke_run_end_to_end(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, str(SCRIPT), "--smoke", "--out", str(tmp_path)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=280)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads((tmp_path / "gpu_check.json").read_text())
    modes = report["throughput"]["modes"]
    assert [m["mode"] for m in modes] == ["eager fp32", "eager bf16", "bf16 + compile"]
    assert all(m["tokens_per_s"] > 0 and m["final_loss"] > 0 for m in modes)
    assert modes[1]["precision"] == "bf16" and modes[2]["compiled"] and modes[2]["compiler"] == "aot_eager"
    ft = report["finetune"]
    assert ft["steps"] == ft["planned_steps"] > 0 and ft["stopped"] is None
    assert set(ft["spider_dev_execution_accuracy"]) == {"greedy", ft["default_decoder"]}
    assert report["notebook"]["ok"] and report["notebook"]["capped"].startswith("capped: tiny")
    assert "Spider dev execution accuracy" in proc.stdout and "chapter 8 notebook: ran end to end" in proc.stdout
