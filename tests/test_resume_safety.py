"""``--resume`` never loses a run (issue 25): a damaged LATEST falls back to the newest complete checkpoint or
stops with a clear error, saves never delete the only complete checkpoint or BEST's, killed saves' temporary
files are cleaned up, and a damaged checkpoint or other model settings are one line naming the file (exit 2)."""

from __future__ import annotations

import os

import pytest
import torch

from t2sql_lib import checkpoint as ck
from t2sql_lib import train as tr
from t2sql_lib import train_cli
from t2sql_lib.config import TrainSettings
from t2sql_lib.lm_data import SlidingWindowDataset
from t2sql_lib.model import GPTConfig, GPTModel

VOCAB, SEQ = 48, 16


def tiny_gpt(seed: int = 0, n_layers: int = 2) -> GPTModel:
    torch.manual_seed(seed)
    return GPTModel(GPTConfig(vocab_size=VOCAB, context_length=SEQ, emb_dim=32, n_heads=2, n_layers=n_layers,
                              drop_rate=0.0))


def run(out, model=None, **kw):
    s = TrainSettings(batch_size=8, learning_rate=3e-3, warmup_steps=2, max_steps=kw.pop("max_steps", 8),
                      eval_every=kw.pop("eval_every", 2), eval_batches=2, seed=7)
    data = SlidingWindowDataset(train_cli.synthetic_token_stream(2000, VOCAB, seed=0), SEQ)
    options = tr.RunOptions(out_dir=out, device="cpu", progress=False, verbose=kw.pop("verbose", False), **kw)
    return tr.train(model or tiny_gpt(), data, s, options=options)


def steps(root) -> list[str]:
    return sorted(p.name for p in root.iterdir() if p.name.startswith("step-"))


@pytest.mark.parametrize("damage", ["missing", "names a missing folder", "names an incomplete folder", "garbage"])
def test_resume_with_a_damaged_latest_uses_the_newest_complete_checkpoint(tmp_path, damage):
    out = tmp_path / "run"
    run(out, stop_at_step=4)
    root = out / "checkpoints"
    latest = root / ck.LATEST
    if damage == "missing":
        latest.unlink()
    elif damage == "names a missing folder":
        latest.write_text("step-000099\n")
    elif damage == "names an incomplete folder":
        (root / "step-000006").mkdir()
        (root / "step-000006" / ck.STATE_FILE).write_text("{}")
        latest.write_text("step-000006\n")
    else:
        latest.write_bytes(b"\xff\xfe../../etc\x00")
    with pytest.warns(UserWarning, match="newest complete checkpoint, step-000004"):
        result = run(out, resume_from=True)
    assert result.step == 8 and len(result.losses) == 4  # steps 5..8: it went on, it did not start over
    assert ck.load_checkpoint(root)["step"] == 8


def test_resume_with_traces_but_no_complete_checkpoint_stops_with_a_clear_error(tmp_path, capsys):
    out = tmp_path / "run"
    run(out, stop_at_step=4)
    root = out / "checkpoints"
    (root / "step-000004" / ck.MODEL_FILE).unlink()  # the only checkpoint is incomplete
    with pytest.raises(FileNotFoundError, match="cannot resume.*no complete step-"):
        run(out, resume_from=True)
    assert steps(root) == ["step-000004"]  # nothing was overwritten or pruned
    code = train_cli.main(["--config", "tiny", "--data", "synthetic", "--out", str(out), "--no-progress", "--resume",
                    "--synthetic-tokens", "20000", "--seq-len", "32", "train.max_steps=6"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "cannot resume" in err


def test_resume_in_an_empty_folder_says_it_starts_at_step_0(tmp_path, capsys):
    result = run(tmp_path / "fresh", resume_from=True, max_steps=2, verbose=True)
    assert result.step == 2 and "nothing to resume, starting at step 0" in capsys.readouterr().out


def test_a_kill_between_the_folder_rename_and_the_first_latest_write(tmp_path, monkeypatch):
    # The state a SIGKILL leaves: a complete step folder and no LATEST at all.
    out = tmp_path / "run"
    real = ck.write_text_atomic

    def killed(path, text):
        if path.name == ck.LATEST:
            raise KeyboardInterrupt("SIGKILL")
        return real(path, text)

    monkeypatch.setattr(ck, "write_text_atomic", killed)
    with pytest.raises(KeyboardInterrupt):
        run(out, max_steps=8, eval_every=4)
    monkeypatch.setattr(ck, "write_text_atomic", real)
    root = out / "checkpoints"
    assert steps(root) == ["step-000004"] and not (root / ck.LATEST).exists()
    with pytest.warns(UserWarning, match="missing"):
        result = run(out, resume_from=True, max_steps=8, eval_every=4)
    assert len(result.losses) == 4 and result.step == 8


def make_checkpoint(root, step, best=False, keep=1):
    return ck.save_checkpoint(root, model=torch.nn.Linear(2, 2), step=step, state={"x": torch.ones(1)}, best=best,
                              keep=keep)


def test_no_save_deletes_the_checkpoint_best_names_even_without_latest(tmp_path):
    make_checkpoint(tmp_path, 1, best=True)
    make_checkpoint(tmp_path, 2)
    (tmp_path / ck.LATEST).unlink()
    make_checkpoint(tmp_path, 3)
    assert steps(tmp_path) == ["step-000001", "step-000003"]  # BEST's and the newest
    assert ck.load_checkpoint(tmp_path, which=ck.BEST)["step"] == 1


def test_pruning_keeps_every_complete_checkpoint_while_latest_names_none(tmp_path):
    make_checkpoint(tmp_path, 1, keep=2)
    make_checkpoint(tmp_path, 2, keep=2)
    (tmp_path / ck.LATEST).write_text("step-000777\n")
    (tmp_path / "step-000005").mkdir()  # an incomplete folder: removed
    ck._prune(tmp_path, keep=1)
    assert steps(tmp_path) == ["step-000001", "step-000002"]


def test_a_save_cleans_up_what_killed_saves_left(tmp_path):
    make_checkpoint(tmp_path, 1)
    stale = [tmp_path / ".LATEST.abc123.tmp", tmp_path / ".BEST.x9.tmp"]
    for path in stale:
        path.write_text("step-000001\n")
    (tmp_path / ".step-000002.q1.tmp").mkdir()
    (tmp_path / "notes.txt").write_text("mine")  # not the checkpointer's: kept
    make_checkpoint(tmp_path, 2)
    names = sorted(os.listdir(tmp_path))
    assert names == ["LATEST", "notes.txt", "step-000002"]


def test_resume_with_a_damaged_model_file_is_one_line_naming_it(tmp_path, capsys):
    out = tmp_path / "cli"
    opts = ["--config", "tiny", "--data", "synthetic", "--out", str(out), "--no-progress", "--synthetic-tokens",
            "20000", "--seq-len", "32"]
    sets = ["train.eval_every=2", "train.eval_batches=2", "model.n_layers=1"]
    assert train_cli.main(opts + sets + ["train.max_steps=2"]) == 0
    weights = out / "checkpoints" / "step-000002" / ck.MODEL_FILE
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])  # truncated
    capsys.readouterr()
    assert train_cli.main(opts + ["--resume"] + sets + ["train.max_steps=4"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(weights) in err and "safetensors" in err
    weights.write_bytes(b"\x00" * 8 + data[8:])  # a flipped header
    assert train_cli.main(opts + ["--resume"] + sets + ["train.max_steps=4"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(weights) in err


def test_resume_with_other_model_settings_is_one_line_naming_the_file(tmp_path, capsys):
    out = tmp_path / "cli"
    opts = ["--config", "tiny", "--data", "synthetic", "--out", str(out), "--no-progress", "--synthetic-tokens",
            "20000", "--seq-len", "32"]
    sets = ["train.eval_every=2", "train.eval_batches=2"]
    assert train_cli.main(opts + sets + ["train.max_steps=2", "model.n_layers=1"]) == 0
    capsys.readouterr()
    assert train_cli.main(opts + ["--resume"] + sets + ["train.max_steps=4", "model.n_layers=2"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "state.json" in err and "model.n_layers=1" in err
    # without the saved config to compare, the weights' shapes still catch it, naming the weights file
    with pytest.raises(ValueError, match="model.safetensors: the weights do not fit"):
        run(out, model=tiny_gpt(n_layers=3), resume_from=True)


def test_resume_with_a_damaged_state_file_is_one_line_naming_it(tmp_path):
    out = tmp_path / "run"
    run(out, stop_at_step=2)
    state = out / "checkpoints" / "step-000002" / ck.STATE_FILE
    state.write_text(state.read_text()[:100])
    with pytest.raises(ValueError, match="state.json: not a readable checkpoint state"):
        run(out, resume_from=True)
    tensors = out / "checkpoints" / "step-000002" / ck.STATE_TENSORS_FILE
    run(tmp_path / "other", stop_at_step=2)
    (out / "checkpoints" / "step-000002" / ck.STATE_FILE).write_bytes(
        (tmp_path / "other" / "checkpoints" / "step-000002" / ck.STATE_FILE).read_bytes())
    tensors.write_bytes(b"junk")
    with pytest.raises(ValueError, match="state.safetensors: not a readable safetensors file"):
        run(out, resume_from=True)


def test_a_fresh_start_over_an_earlier_run_says_so(tmp_path, capsys):
    out = tmp_path / "run"
    run(out, max_steps=2)
    capsys.readouterr()
    run(out, max_steps=2, verbose=True)
    assert "the checkpoints of the run there are replaced" in capsys.readouterr().out
