"""The end-to-end demo, run tiny: data -> tokenizer -> GPT from scratch -> training -> executed, scored SQL."""

from __future__ import annotations

import dataclasses
import json
import re

import matplotlib
import matplotlib.pyplot as plt
import pytest
import torch
from safetensors.torch import load_model

from t2sql_lib.cli import build_parser
from t2sql_lib.config import PRESETS
from t2sql_lib.demo import DemoConfig, run_demo
from t2sql_lib.evaluate import execution_match, string_match
from t2sql_lib.generate import BEST_DECODING, DECODERS, decode_sql
from t2sql_lib.model import GPTConfig, GPTModel
from t2sql_lib.sft import build_tokenizer, evaluate_model, predict_sql
from t2sql_lib.sql import execute_sql
from t2sql_lib.synth import load_generated
from t2sql_lib.tokenizer import BPETokenizer
from t2sql_lib.user_questions import load_user_questions

TINY = ("model.context_length=512", "model.emb_dim=32", "model.n_layers=2", "model.n_heads=2",
        "train.max_steps=12", "train.eval_every=6", "train.batch_size=4", "train.warmup_steps=2",
        "train.eval_batches=1", "data.n_synth_examples=200", "data.tokenizer_vocab_size=400",
        "model.pos_encoding=rope")  # as the demo: rotary positions, saved and loaded back


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    config = DemoConfig(preset="tiny", overrides=TINY, val_examples=4, test_examples=10, max_new_tokens=24,
                        out_dir=out, progress=False, threads=1)
    backend = matplotlib.get_backend()
    matplotlib.use("svg")  # a backend of the learner's session: the demo must leave it (and its figures) alone
    try:
        result = run_demo(config)
        assert matplotlib.get_backend() == "svg" and plt.get_fignums() == []
    finally:
        matplotlib.use(backend)
    return config, result


def test_demo_report_comes_from_executing_the_generated_sql(demo):
    config, result = demo
    assert result.user_report is None  # the user-phrased questions are scored with the demo preset or on request
    report = result.report
    test = load_generated(n_examples=200, seed=0)["test"][:10]
    assert len(report.records) == 10
    assert [r["question"] for r in report.records] == [e.question for e in test]  # the held-out databases
    assert {r["db_id"] for r in report.records} <= {"farm", "hotel", "online_shop"}
    for ex, r in zip(test, report.records):
        # every verdict is what executing the prediction and the gold query on the database gives
        assert r["execution_accuracy"] == execution_match(ex.db_path, r["prediction"], ex.sql)
        assert r["valid_sql"] == execute_sql(ex.db_path, r["prediction"]).ok
        assert r["exact_match"] == (bool(r["prediction"]) and string_match(r["prediction"], ex.sql))
    m = result.metrics()
    assert m["execution_accuracy"] == pytest.approx(sum(r["execution_accuracy"] for r in report.records) / 10)
    assert m["valid_sql"] == pytest.approx(sum(r["valid_sql"] for r in report.records) / 10)


def test_demo_trains_evaluates_on_validation_and_saves(demo):
    config, result = demo
    assert result.steps == 12 or (result.best_step is not None and result.steps < 12)
    assert [e["step"] for e in result.evals][:2] == [6, 12][: len(result.evals)]
    for e in result.evals:
        assert {"val_loss", "val_execution_accuracy", "val_exact_match", "val_valid_sql"} <= set(e)
        assert 0.0 <= e["val_execution_accuracy"] <= 1.0
    best = min(result.evals, key=lambda e: e["val_loss"])  # the checkpoint kept: lowest validation SQL loss
    assert result.best_step == best["step"] and result.best_val_loss == pytest.approx(best["val_loss"])
    assert result.best_val_execution_accuracy == best["val_execution_accuracy"]
    out = result.out_dir
    for name in ("model.safetensors", "tokenizer.json", "config.json", "test_report.json", "accuracy_vs_step.png"):
        assert (out / name).is_file(), name
    saved = json.loads((out / "test_report.json").read_text())
    assert saved["counts"]["questions"] == 10
    assert saved["summary"]["all"]["execution_accuracy"] == pytest.approx(result.metrics()["execution_accuracy"])
    assert result.wall_time_s > result.train_time_s > 0


def test_saved_model_and_tokenizer_reproduce_the_predictions(demo):
    config, result = demo
    out = result.out_dir
    tokenizer = BPETokenizer.load(out / "tokenizer.json")
    model_cfg = json.loads((out / "config.json").read_text())["model"]
    assert model_cfg["vocab_size"] == tokenizer.n_vocab  # the model's vocabulary is the tokenizer's
    model = GPTModel(GPTConfig(**model_cfg))
    load_model(model, str(out / "model.safetensors"))
    test = load_generated(n_examples=200, seed=0)["test"][:10]
    with torch.no_grad():
        preds = predict_sql(model, tokenizer, test, max_new_tokens=config.max_new_tokens)
        best = decode_sql(model, tokenizer, test, dataclasses.replace(DECODERS[config.headline_decoder()],
                                                                      max_new_tokens=config.max_new_tokens))
    assert preds.sql == [r["prediction"] for r in result.greedy_report.records]
    assert best == [r["prediction"] for r in result.report.records]  # the headline: the configured decoder


def test_headline_uses_chapter_6s_best_decoder_and_greedy_is_scored_too(demo):
    config, result = demo
    assert config.headline_decoder() == BEST_DECODING and tuple(config.decoders) == ("greedy", BEST_DECODING)
    assert result.report.info["decoding"] == BEST_DECODING
    assert result.greedy_report is not result.report and result.greedy_report.info["decoding"] == "greedy"
    assert [r["question"] for r in result.greedy_report.records] == [r["question"] for r in result.report.records]


def test_unknown_decoding_is_refused(demo):
    config, result = demo
    with pytest.raises(ValueError, match="decoding='best'"):
        evaluate_model(None, None, [], decoding="best")


def test_demo_settings_are_the_named_demo_preset():
    demo = DemoConfig().preset_settings()
    assert DemoConfig().preset == "demo" and demo == PRESETS["demo"]
    assert demo.train.early_stopping_metric == "val_loss" and demo.train.early_stopping_mode == "min"
    assert demo.model.pos_encoding == "rope" and demo.model.copy_head
    # the demo reads each schema once for several questions; another preset, or a loss on every token, not
    assert DemoConfig().shared_schema() == (demo.data.questions_per_schema, demo.data.schema_views)
    assert demo.data.questions_per_schema > 1
    assert DemoConfig(preset="tiny").shared_schema() == DemoConfig(mask_prompt=False).shared_schema() == (1, 1)
    assert DemoConfig(preset="tiny", questions_per_schema=4, schema_views=2).shared_schema() == (4, 2)
    overridden = DemoConfig(overrides=("data.questions_per_schema=2",))
    assert overridden.shared_schema() == (2, demo.data.schema_views)
    tiny = DemoConfig(preset="tiny", overrides=("train.max_steps=5",)).preset_settings()
    assert tiny.train.max_steps == 5 and tiny.model == PRESETS["tiny"].model


def test_reworded_questions_and_value_hints_are_settings_of_the_demo():
    demo = PRESETS["demo"].data
    assert DemoConfig().people_words() == (demo.question_variety, demo.value_hints)
    assert DemoConfig(preset="tiny").people_words() == (0.0, False)
    hinted = DemoConfig(overrides=("data.value_hints=true", "data.question_variety=0.5"))
    assert hinted.people_words() == (0.5, True)
    assert DemoConfig(preset="tiny", question_variety=0.2, value_hints=True).people_words() == (0.2, True)
    args = build_parser().parse_args(["demo", "--question-variety", "0.25", "--value-hints"])
    assert (args.question_variety, args.value_hints) == (0.25, True)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["demo", "--question-variety", "1.5"])


def test_demo_with_reworded_questions_and_value_hints_scores_the_user_questions(tmp_path, capsys):
    config = DemoConfig(preset="tiny", overrides=(*TINY, "train.max_steps=2", "train.eval_every=2"),
                        val_examples=2, test_examples=4, max_new_tokens=8, out_dir=tmp_path, progress=False,
                        threads=1, decoders=("greedy",), question_variety=1.0, value_hints=True, user_questions=True)
    result = run_demo(config)
    out = capsys.readouterr().out
    n_train = len(load_generated(n_examples=200, seed=0)["train"])
    reworded = int(re.search(r"\((\d+) reworded, (\d+) with value hints\)", out).group(1))
    assert 0.8 * n_train < reworded <= n_train and "questions in people's words" in out
    user = result.user_report
    assert user is not None and user.counts()["questions"] == len(load_user_questions("test"))
    assert any(" | values: " in r["question"] for r in user.records)  # scored with the hints it was trained with
    assert "user_execution_accuracy" in result.metrics()
    assert json.loads((tmp_path / "config.json").read_text())["demo"]["value_hints"] is True
    assert (tmp_path / "user_report.json").is_file()


def test_cli_demo_options():
    args = build_parser().parse_args(["demo", "--preset", "tiny", "--no-mask-prompt", "--test-examples", "all",
                                      "train.max_steps=3"])
    assert (args.preset, args.no_mask_prompt, args.test_examples, args.overrides) == \
        ("tiny", True, "all", ["train.max_steps=3"])
    assert build_parser().parse_args(["demo"]).preset == "demo"


def test_demo_trains_on_questions_that_share_a_schema(tmp_path, capsys):
    config = DemoConfig(preset="tiny", overrides=(*TINY, "train.max_steps=4", "train.eval_every=4",
                                                        "train.batch_size=8"),
                        val_examples=2, test_examples=4, max_new_tokens=8, out_dir=tmp_path, progress=False,
                        threads=1, questions_per_schema=4, schema_views=2, decoders=("greedy",))
    result = run_demo(config)
    out = capsys.readouterr().out
    assert "shared schemas:" in out and "2 schemas x 4 questions (2 grouping(s))" in out
    n_train = len(load_generated(n_examples=200, seed=0)["train"])
    assert result.data_stats["train"].startswith(f"{2 * n_train} examples")  # every question, twice
    assert result.report.counts()["questions"] == 4 and result.steps == 4
    assert result.evals[-1]["val_loss"] > 0
    # the model's own weights, nothing of the wrapper (strict loading raises on any other key)
    load_model(GPTModel(GPTConfig(**json.loads((tmp_path / "config.json").read_text())["model"])),
               str(tmp_path / "model.safetensors"))
    with pytest.raises(ValueError, match="mask_prompt=True"):
        run_demo(dataclasses.replace(config, mask_prompt=False, out_dir=tmp_path / "unmasked"))


def test_cli_demo_shared_schema_options():
    args = build_parser().parse_args(["demo", "--questions-per-schema", "6", "--schema-views", "2"])
    assert (args.questions_per_schema, args.schema_views) == (6, 2)
    defaults = build_parser().parse_args(["demo"])
    assert (defaults.questions_per_schema, defaults.schema_views) == (None, None)  # DemoConfig's defaults decide




def test_spider_training_questions_come_in_the_generators_style(spider, monkeypatch):
    from t2sql_lib.pipeline import spider_training_questions

    monkeypatch.setenv("T2SQL_SPIDER_DIR", str(spider))
    examples = spider_training_questions(30, seed=1)
    assert len(examples) == 30 and all(e.db_path.is_file() for e in examples)
    assert all(e.sql.startswith(("SELECT", "WITH")) and "count(" not in e.sql for e in examples)
    assert [e.question for e in examples] == [e.question for e in spider_training_questions(30, seed=1)]
    assert spider_training_questions(30, seed=2) != examples


def test_no_spider_folder_means_generated_data_only(monkeypatch, capsys):
    from t2sql_lib import pipeline

    monkeypatch.setattr("t2sql_lib.paths.spider_dir", lambda: None)
    assert pipeline.spider_training_questions(10) == []
    assert "no Spider folder" in capsys.readouterr().out


def test_the_learned_bpe_is_cached_by_its_text_and_size(tmp_path):
    train = load_generated(n_examples=200, seed=0)["train"][:60]
    first = build_tokenizer("bpe", train, 300, cache_dir=tmp_path)
    files = sorted(tmp_path.glob("bpe-300-*.json"))
    assert len(files) == 1
    again = build_tokenizer("bpe", train, 300, cache_dir=tmp_path)  # read back, the same merges
    assert again.to_dict() == first.to_dict() == build_tokenizer("bpe", train, 300).to_dict()
    build_tokenizer("bpe", train[:50], 300, cache_dir=tmp_path)  # other text: another file
    build_tokenizer("bpe", train, 280, cache_dir=tmp_path)  # another size: another file
    assert len(list(tmp_path.glob("bpe-*.json"))) == 3
    files[0].write_text('{"merges": [[1, 2]', encoding="utf-8")  # a damaged cache file is learned again
    assert build_tokenizer("bpe", train, 300, cache_dir=tmp_path).to_dict() == first.to_dict()
    assert BPETokenizer.load(files[0]).to_dict() == first.to_dict()
    assert not list(tmp_path.glob(".*.tmp"))
