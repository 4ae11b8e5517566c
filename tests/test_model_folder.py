"""The model folder: written and read by one module, round trip exact, damage named in one line."""

from __future__ import annotations

import json

import pytest
import torch

from t2sql_lib.model import GPTConfig, GPTModel
from t2sql_lib.model_folder import (
    MODEL_FILES,
    load_model_folder,
    load_tokenizer_file,
    save_model_folder,
    tokenizer_json,
)
from t2sql_lib.special_tokens import SPECIAL_TOKENS
from t2sql_lib.tokenizer import BPETokenizer

CFG = dict(vocab_size=300, context_length=32, emb_dim=16, n_heads=2, n_layers=1, drop_rate=0.0)


@pytest.fixture
def bpe():
    return BPETokenizer.train(["SELECT name FROM hotels WHERE city = 'Fairhaven'"] * 3, 290,
                              special_tokens=SPECIAL_TOKENS)


def test_round_trip_gives_the_same_model_tokenizer_and_settings(tmp_path, bpe):
    torch.manual_seed(0)
    model = GPTModel(GPTConfig(**CFG))
    out = save_model_folder(tmp_path / "m", model, bpe, {"preset": {"name": "tiny"}, "run": {"seed": (1, 2)}})
    assert sorted(p.name for p in out.iterdir()) == sorted(MODEL_FILES)
    loaded = load_model_folder(out)
    assert GPTConfig(**loaded.config["model"]) == model.cfg
    assert loaded.config["run"] == {"seed": [1, 2]}  # tuples stored as JSON lists
    assert loaded.tokenizer.to_dict() == bpe.to_dict()
    ids = torch.randint(0, 290, (2, 10))
    with torch.no_grad():
        assert torch.equal(loaded.model(ids), model.eval()(ids))
    assert not loaded.model.training


def test_gpt2_tokenizer_is_stored_by_name(tmp_path):
    path = tmp_path / "tokenizer.json"
    path.write_text(tokenizer_json(object()))
    assert json.loads(path.read_text())["type"] == "tiktoken"
    assert load_tokenizer_file(path).n_vocab > 50_000


def test_a_tokenizer_larger_than_the_model_is_refused(tmp_path, bpe):
    model = GPTModel(GPTConfig(**(CFG | {"vocab_size": 100})))
    out = save_model_folder(tmp_path / "m", model, bpe)
    with pytest.raises(ValueError, match="the tokenizer has .* ids but the model only 100"):
        load_model_folder(out)


@pytest.mark.parametrize("text, message", [("{not json", "config.json: not valid JSON"),
                                           ("[1, 2]", "config.json: no valid \"model\" section")])
def test_a_config_that_is_not_a_mapping_names_the_file(tmp_path, bpe, text, message):
    out = save_model_folder(tmp_path / "m", GPTModel(GPTConfig(**CFG)), bpe)
    (out / "config.json").write_text(text)
    with pytest.raises(ValueError, match=message):
        load_model_folder(out)


def test_a_missing_file_says_how_to_make_a_folder(tmp_path, bpe):
    out = save_model_folder(tmp_path / "m", GPTModel(GPTConfig(**CFG)), bpe)
    (out / "tokenizer.json").unlink()
    with pytest.raises(FileNotFoundError, match="has no tokenizer.json: train one with `t2sql demo`"):
        load_model_folder(out)
