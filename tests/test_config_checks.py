"""Settings are checked for type and range (issue 25): one line naming the file (or override) and the field,
exit code 2 from the command line."""

from __future__ import annotations

import math

import pytest

from t2sql_lib import config
from t2sql_lib.cli import main as t2sql


@pytest.mark.parametrize("text, field", [
    ('train:\n  max_steps: "ten"\n', "train.max_steps must be a whole number"),
    ("train:\n  max_steps: 2.5\n", "train.max_steps must be a whole number"),
    ("train:\n  learning_rate: abc\n", "train.learning_rate must be a finite number"),
    ("train:\n  learning_rate: .nan\n", "train.learning_rate must be a finite number"),
    ("train:\n  learning_rate: -0.1\n", "train.learning_rate must be > 0"),
    ("train:\n  compile: 1\n", "train.compile must be true or false"),
    ("train:\n  precision: fp8\n", "train.precision must be one of"),
    ("model: 5\n", "model must be a mapping"),
    ("model:\n  n_layers: -2\n", "model.n_layers must be >= 1"),
    ("model:\n  drop_rate: 1.5\n", "model.drop_rate must be in"),
    ("model:\n  emb_dim: 30\n  n_heads: 4\n", "divisible"),
    ("data:\n  max_examples_per_dataset: 0\n", "data.max_examples_per_dataset must be >= 1"),
    ("name: [1]\n", "name must be a string"),
])
def test_a_bad_setting_in_a_file_names_the_file_and_field(tmp_path, text, field):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ValueError, match="bad.yaml") as err:
        config.load_preset(path)
    assert field in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("override, field", [
    ("train.learning_rate=abc", "train.learning_rate must be a finite number"),
    ("model.n_layers=-2", "model.n_layers must be >= 1"),
    ("train.max_steps=ten", "train.max_steps must be a whole number"),
    ("train.max_steps=[1", "train.max_steps must be a whole number"),
    ("train.beta2=1", "train.beta2 must be in [0, 1)"),
    ("data.max_examples_per_dataset=-1", "must be >= 1"),
])
def test_a_bad_override_names_it(override, field):
    with pytest.raises(ValueError, match="override") as err:
        config.load_preset("tiny").with_overrides([override])
    assert field in str(err.value)


def test_good_values_pass_and_are_normalised(tmp_path):
    p = config.load_preset("tiny").with_overrides(["train.learning_rate=1e-3", "train.grad_clip=2",
                                                   "data.max_examples_per_dataset=null"])
    assert p.train.learning_rate == 1e-3 and isinstance(p.train.grad_clip, float)
    assert p.data.max_examples_per_dataset is None
    path = tmp_path / "ok.yaml"
    path.write_text("train:\n  learning_rate: 3e-4\n  max_steps: 10\nmodel: null\n")  # YAML 1.1 reads 3e-4 as text
    loaded = config.load_preset(path)
    assert loaded.train.learning_rate == 3e-4 and loaded.model == config.GPTConfig()
    assert math.isclose(config.check_setting(config.TrainSettings, "min_lr_ratio", 1), 1.0)


def test_the_cli_exits_2_with_one_line(tmp_path, capsys):
    path = tmp_path / "bad.yaml"
    path.write_text('train:\n  max_steps: "ten"\n')
    assert t2sql(["train", "--config", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "bad.yaml" in err and "train.max_steps" in err
    assert t2sql(["train", "--config", "tiny", "model.n_layers=-2"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "model.n_layers" in err
    path.write_text("model: 5\n")
    assert t2sql(["train", "--config", str(path)]) == 2
    assert "bad.yaml: model must be a mapping" in capsys.readouterr().err
