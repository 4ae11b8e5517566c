"""Command-line inputs checked up front (issue 25): ``eval --output`` naming a folder, ``--timeout nan`` or a
negative one, a predictions file with a byte-order mark, ``"query": null`` in Spider data, ``ask --max-rows -1``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fuzz_sql import make_spider_folder

from t2sql_lib import evaluate as ev
from t2sql_lib.ask import format_table, run_ask
from t2sql_lib.cli import main as t2sql
from t2sql_lib.spider import load_spider
from t2sql_lib.sql import ExecResult


@pytest.fixture()
def spider(tmp_path: Path) -> Path:
    return make_spider_folder(tmp_path / "spider", n_questions=4)


def eval_args(root: Path, predictions: Path, output: Path, *extra: str) -> list[str]:
    return ["eval", "--root", str(root), "--split", "dev", "--predictions", str(predictions), "--output", str(output),
            *extra]


def gold_lines(root: Path) -> list[str]:
    return [q["query"] for q in json.loads((root / "dev.json").read_text())]


def test_eval_output_naming_a_folder_is_refused_before_scoring(spider, tmp_path, capsys, monkeypatch):
    predictions = tmp_path / "pred.sql"
    predictions.write_text("\n".join(gold_lines(spider)) + "\n")
    monkeypatch.setattr(ev, "evaluate", lambda *a, **k: pytest.fail("scored before the output path was checked"))
    assert t2sql(eval_args(spider, predictions, tmp_path)) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "is a folder" in err
    assert t2sql(eval_args(spider, predictions, predictions / "report.json")) == 2  # under a file
    assert "is a file, not a folder" in capsys.readouterr().err


@pytest.mark.parametrize("value", ["nan", "-1", "0", "inf", "abc"])
def test_eval_timeout_must_be_a_positive_number(spider, tmp_path, capsys, value):
    with pytest.raises(SystemExit) as stop:
        t2sql(eval_args(spider, tmp_path / "p.sql", tmp_path / "r.json", "--timeout", value))
    assert stop.value.code == 2 and "--timeout" in capsys.readouterr().err


def test_a_predictions_file_with_a_byte_order_mark_scores_its_first_line(spider, tmp_path, capsys):
    predictions = tmp_path / "pred.sql"
    predictions.write_bytes(b"\xef\xbb\xbf" + ("\n".join(gold_lines(spider)) + "\n").encode())
    examples = load_spider(spider, "dev")
    assert ev.read_predictions(predictions, examples)[0] == "SELECT count(*) FROM singer"
    report = tmp_path / "r.json"
    assert t2sql(eval_args(spider, predictions, report)) == 0
    records = json.loads(report.read_text())["examples"]
    assert records[0]["valid_sql"] and records[0]["execution_accuracy"]


def test_a_null_query_in_spider_data_is_one_line_naming_file_and_question(spider, tmp_path, capsys):
    dev = json.loads((spider / "dev.json").read_text())
    dev[2]["query"] = None
    (spider / "dev.json").write_text(json.dumps(dev))
    with pytest.raises(ValueError, match=r"dev\.json: question 2 has 'query': None"):
        load_spider(spider, "dev")
    predictions = tmp_path / "pred.sql"
    predictions.write_text("SELECT 1\n")
    assert t2sql(eval_args(spider, predictions, tmp_path / "r.json")) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "question 2" in err and "dev.json" in err


def test_ask_max_rows_must_not_be_negative(capsys, tmp_path):
    with pytest.raises(SystemExit) as stop:
        t2sql(["ask", "How many?", "--db", str(tmp_path / "x.sqlite"), "--max-rows", "-1"])
    assert stop.value.code == 2 and "--max-rows" in capsys.readouterr().err
    result = ExecResult(ok=True, rows=[(1,), (2,)], columns=["x"])
    with pytest.raises(ValueError, match="max_rows"):
        format_table(result, max_rows=-1)  # -1 would show result.rows[:-1]: every row but the last
    with pytest.raises(ValueError, match="--max-rows"):
        run_ask(str(tmp_path / "x.sqlite"), "How many?", max_rows=-1)
    assert format_table(result, max_rows=0).endswith("(2 rows, 2 not shown)")
