"""Presets: names, hardware choice, environment override, YAML/JSON round trips and clear errors."""

from __future__ import annotations

import pytest

from t2sql_lib import config


def test_env_var_overrides_choice(monkeypatch):
    monkeypatch.setenv("T2SQL_PRESET", "laptop")
    assert config.get_preset().name == "laptop"
    monkeypatch.setenv("T2SQL_PRESET", "tiny")
    assert config.get_preset().name == "tiny"


def test_auto_choice_on_cpu(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert config.auto_preset_name() == "laptop"


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_round_trip(tmp_path, suffix):
    preset = config.load_preset("gpu-t4")
    loaded = config.load_preset(preset.save(tmp_path / f"p{suffix}"))
    assert loaded == preset


def test_named_config_files_match_builtins(root):
    for name, preset in config.PRESETS.items():
        path = root / "configs" / f"{name}.yaml"
        assert path.exists(), f"configs/{name}.yaml missing: run `t2sql presets --name {name} --save {path}`"
        assert config.load_preset(path) == preset


def test_overrides_and_errors(tmp_path):
    p = config.load_preset("tiny").with_overrides(["train.max_steps=5", "model.emb_dim=32"])
    assert p.train.max_steps == 5 and p.model.emb_dim == 32
    with pytest.raises(ValueError, match="no setting"):
        config.load_preset("tiny").with_overrides(["train.nope=1"])
    bad = tmp_path / "bad.yaml"
    bad.write_text("model:\n  emb_dimm: 3\n")
    with pytest.raises(ValueError, match=r"bad.yaml.*emb_dimm"):
        config.load_preset(bad)
    with pytest.raises(ValueError, match="unknown preset"):
        config.load_preset("huge")
    assert all(p.model.emb_dim % p.model.n_heads == 0 for p in config.PRESETS.values())


def test_course_preset_is_the_same_on_every_machine(monkeypatch):
    """Chapters 0-7 run the course size whatever the hardware says; $T2SQL_PRESET still wins."""
    monkeypatch.delenv(config.ENV_VAR, raising=False)
    monkeypatch.setattr(config, "auto_preset_name", lambda: "gpu")
    assert config.get_preset().name == "gpu"
    assert config.course_preset().name == config.COURSE_SIZE == "tiny"
    assert config.course_preset("laptop").name == "laptop"
    monkeypatch.setenv(config.ENV_VAR, "demo")
    assert config.course_preset().name == "demo"
    assert config.course_preset("laptop").name == "demo"
