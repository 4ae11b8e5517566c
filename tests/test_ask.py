"""``t2sql ask``: a saved model folder answers a question on a SQLite database; clear errors otherwise."""

from __future__ import annotations

import dataclasses
import json
import sqlite3

import pytest
import torch
from safetensors.torch import save_model

from t2sql_lib.ask import ask, format_table
from t2sql_lib.cli import main
from t2sql_lib.model import GPTConfig, GPTModel
from t2sql_lib.model_folder import load_model_folder
from t2sql_lib.prompts import build_prompt, build_target
from t2sql_lib.sql import execute_sql, read_schema
from t2sql_lib.tokenizer import BPETokenizer

QUESTION = "How many items are there?"
SQL = "SELECT count(*) FROM item"


def _make_db(path, table="item"):
    con = sqlite3.connect(path)
    con.execute(f"CREATE TABLE {table} (id integer primary key, name text, price real)")
    con.executemany(f"INSERT INTO {table} VALUES (?, ?, ?)", [(1, "pen", 1.5), (2, "book", 12.0), (3, "cup", 4.0)])
    con.commit()
    con.close()
    return path


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """A model folder as ``t2sql demo`` writes it, holding a tiny GPT that learned one question's SQL by heart."""
    tmp = tmp_path_factory.mktemp("ask")
    db = _make_db(tmp / "shop.sqlite")
    text = build_prompt(read_schema(db), QUESTION) + build_target(SQL)
    tokenizer = BPETokenizer.train([text] * 3, vocab_size=300)
    ids = torch.tensor([tokenizer.encode(text)])
    cfg = GPTConfig(vocab_size=tokenizer.n_vocab, context_length=256, emb_dim=32, n_heads=2, n_layers=2,
                    drop_rate=0.0)
    torch.manual_seed(0)
    model = GPTModel(cfg)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    for _ in range(100):
        loss = torch.nn.functional.cross_entropy(model(ids[:, :-1])[0], ids[0, 1:])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.05
    out = tmp / "model"
    out.mkdir()
    save_model(model, str(out / "model.safetensors"))
    tokenizer.save(out / "tokenizer.json")
    (out / "config.json").write_text(json.dumps({"model": dataclasses.asdict(cfg)}))
    return out, db


def test_ask_prints_the_sql_then_the_table(folder, capsys):
    out, db = folder
    assert main(["ask", "--db", str(db), "--model", str(out), QUESTION]) == 0
    printed = capsys.readouterr().out
    assert printed.splitlines()[0] == SQL
    assert "count(*)" in printed and "\n3\n" in printed and "(1 row)" in printed


def test_ask_function_and_every_decoder(folder):
    out, db = folder
    loaded = load_model_folder(out)
    for decoding in ("greedy", "constrained", "beam", "execution_guided", "constrained_execution_guided"):
        answer = ask(db, f"  {QUESTION} ", loaded, decoding)
        assert answer.sql == SQL and answer.result.rows == [(3,)], decoding


def test_failing_sql_is_reported(folder, tmp_path, capsys):
    out, _ = folder
    other = _make_db(tmp_path / "other.sqlite", table="thing")  # no table "item": the memorised SQL fails
    assert main(["ask", "--db", str(other), "--model", str(out), "--decoding", "greedy", QUESTION]) == 1
    captured = capsys.readouterr()
    sql = captured.out.splitlines()[0]
    assert sql and not execute_sql(other, sql).ok  # the SQL is printed, then why it failed
    assert "t2sql ask: the SQL failed: SQL" in captured.err


def test_clear_errors(folder, tmp_path, capsys):
    out, db = folder
    missing_db = tmp_path / "nowhere.sqlite"
    assert main(["ask", "--db", str(missing_db), "--model", str(out), QUESTION]) == 2
    assert f"no SQLite database at {missing_db}" in capsys.readouterr().err
    assert main(["ask", "--db", str(db), "--model", str(out), "   "]) == 2
    assert "question is empty" in capsys.readouterr().err
    missing_model = tmp_path / "no_model"
    assert main(["ask", "--db", str(db), "--model", str(missing_model), QUESTION]) == 2
    err = capsys.readouterr().err
    assert f"no model folder at {missing_model}" in err and "t2sql demo" in err
    incomplete = tmp_path / "incomplete"
    incomplete.mkdir()
    (incomplete / "config.json").write_text("{}")
    assert main(["ask", "--db", str(db), "--model", str(incomplete), QUESTION]) == 2
    assert "has no model.safetensors, tokenizer.json" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["ask", QUESTION])  # --db is required
    assert "--db" in capsys.readouterr().err


def test_format_table(tmp_path):
    db = _make_db(tmp_path / "t.sqlite")
    table = format_table(execute_sql(db, "SELECT name, price FROM item ORDER BY id"), max_rows=2)
    assert table.splitlines() == ["name | price", "-----+------", "pen  | 1.5", "book | 12.0", "(3 rows, 1 not shown)"]


def test_a_model_trained_with_value_hints_is_asked_with_them(folder, monkeypatch):
    out, db = folder
    loaded = load_model_folder(out)
    seen = []

    def fake_decode(model, tokenizer, examples, settings, **kwargs):
        seen.append(examples[0].question)
        return [SQL]

    monkeypatch.setattr("t2sql_lib.ask.decode_sql", fake_decode)
    ask(db, "the price of the BOOK", loaded, "greedy")
    hinted = dataclasses.replace(loaded, config={**loaded.config, "demo": {"value_hints": True}})
    ask(db, "the price of the BOOK", hinted, "greedy")
    assert seen == ["the price of the BOOK", "the price of the BOOK | values: item.name = 'book'"]


@pytest.mark.parametrize("damage, message", [
    ("truncate", "model.safetensors: not a readable safetensors file"),
    ("header", "model.safetensors: not a readable safetensors file"),
    ("other_shape", "model.safetensors: cannot load the weights into the model config.json describes"),
    ("bad_config", "config.json: no valid \"model\" section"),
])
def test_a_damaged_model_folder_is_one_line_naming_the_file(folder, tmp_path, capsys, damage, message):
    import shutil

    out, db = folder
    bad = tmp_path / "model"
    shutil.copytree(out, bad)
    weights, config_file = bad / "model.safetensors", bad / "config.json"
    config = json.loads(config_file.read_text())
    if damage == "truncate":
        weights.write_bytes(weights.read_bytes()[:500])
    elif damage == "header":
        data = bytearray(weights.read_bytes())
        data[12] ^= 0xFF
        weights.write_bytes(bytes(data))
    elif damage == "other_shape":
        config["model"]["emb_dim"] = 64
    else:
        config["model"]["n_heads"] = 3  # 32 is not divisible by 3
    config_file.write_text(json.dumps(config))
    with pytest.raises(ValueError, match=message):
        load_model_folder(bad)
    assert main(["ask", "--db", str(db), "--model", str(bad), QUESTION]) == 2
    err = capsys.readouterr().err.strip()
    assert message.split(":")[0] in err and len(err.splitlines()) == 1 and "Traceback" not in err
