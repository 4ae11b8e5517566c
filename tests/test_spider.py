"""The Spider loader: on the shared copy of Spider, and on a tiny Spider-format folder built here."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from t2sql_lib.evaluate import evaluate
from t2sql_lib.schema import Example
from t2sql_lib.spider import load_spider, load_spider_schemas, resolve_spider_root, spider_db_path


def test_spider_counts_and_skips(spider):
    train = load_spider(spider, "train")
    dev = load_spider(spider, "dev", hardness=False)
    assert (len(train), train.skipped, train.total) == (6904, {"no database": 96}, 7000)
    assert (len(dev), dev.skipped, dev.total) == (972, {"no database": 62}, 1034)
    assert train.missing == ["baseball_1", "soccer_1"] and dev.missing == ["wta_1"]
    assert "skipped 62 (no database)" in dev.summary()
    assert all(ex.db_path.is_file() for ex in dev)
    assert {ex.meta["hardness"] for ex in train} == {"easy", "medium", "hard", "extra"}
    assert "hardness" not in dev[0].meta


def test_spider_example_fields(spider):
    dev = load_spider(spider, "dev")
    first = dev[0]
    assert isinstance(first, Example)
    assert first.question == "How many singers do we have?"
    assert first.sql == "SELECT count(*) FROM singer"
    assert first.db_id == "concert_singer"
    assert first.db_path == spider_db_path(spider, "concert_singer")
    assert first.meta == {"dataset": "spider", "split": "dev", "index": 0, "hardness": "easy"}
    singer = first.schema.table("singer")
    assert singer.primary_key == ("Singer_ID",)
    assert singer.column("Song_Name").display_name == "song name"
    fks = {(fk.table, fk.column, fk.ref_table, fk.ref_column) for fk in first.schema.foreign_keys}
    assert ("concert", "Stadium_ID", "stadium", "Stadium_ID") in fks
    # indices count every question of the file, skipped ones too, so they pair with dev_gold.sql lines
    assert dev[-1].meta["index"] == 1033


def test_spider_gold_runs_on_every_dev_database(spider):
    dev = load_spider(spider, "dev")
    report = evaluate(dev, [ex.sql for ex in dev])
    assert report.counts()["gold_errors"] == 0
    assert report.execution_accuracy == 1.0


@pytest.fixture()
def tiny_spider(tmp_path: Path) -> Path:
    """A Spider-format folder: one described database present, one described but absent."""
    root = tmp_path / "spider"
    tables = [
        {"db_id": "pets", "table_names_original": ["Pet"], "table_names": ["pet"],
         "column_names_original": [[-1, "*"], [0, "PetID"], [0, "Kind"]],
         "column_names": [[-1, "*"], [0, "pet id"], [0, "kind"]],
         "column_types": ["text", "number", "text"], "primary_keys": [1], "foreign_keys": []},
        {"db_id": "gone", "table_names_original": ["T"], "table_names": ["t"],
         "column_names_original": [[-1, "*"], [0, "x"]], "column_names": [[-1, "*"], [0, "x"]],
         "column_types": ["text", "number"], "primary_keys": [], "foreign_keys": []},
    ]
    (root / "database" / "pets").mkdir(parents=True)
    (root / "tables.json").write_text(json.dumps(tables, indent=1))
    con = sqlite3.connect(root / "database" / "pets" / "pets.sqlite")
    con.execute("CREATE TABLE Pet (PetID integer PRIMARY KEY, Kind text)")
    con.executemany("INSERT INTO Pet VALUES (?, ?)", [(1, "cat"), (2, "dog")])
    con.commit()
    con.close()
    dev = [{"db_id": "pets", "question": "How many pets?", "query": "SELECT count(*) FROM Pet"},
           {"db_id": "gone", "question": "Any x?", "query": "SELECT x FROM T"},
           {"db_id": "pets", "question": "Kinds?", "query": "SELECT DISTINCT Kind FROM Pet"}]
    (root / "dev.json").write_text(json.dumps(dev, indent=1))
    return root


def test_tiny_spider_folder(tiny_spider):
    dev = load_spider(tiny_spider, "dev")
    assert [ex.question for ex in dev] == ["How many pets?", "Kinds?"]
    assert [ex.meta["index"] for ex in dev] == [0, 2]
    assert dev.skipped == {"no database": 1} and dev.missing == ["gone"]
    assert load_spider_schemas(tiny_spider)["pets"].table("Pet").primary_key == ("PetID",)


def test_malformed_json_names_the_file_and_line(tiny_spider):
    path = tiny_spider / "dev.json"
    lines = path.read_text().splitlines()
    lines[3] = lines[3].rstrip(",")  # drop a comma inside the first object
    path.write_text("\n".join(lines))
    with pytest.raises(ValueError, match=r"dev\.json:\d+:\d+: malformed JSON"):
        load_spider(tiny_spider, "dev")


def test_question_missing_a_field_or_with_unknown_db(tiny_spider):
    path = tiny_spider / "dev.json"
    path.write_text(json.dumps([{"db_id": "pets", "question": "q"}]))
    with pytest.raises(ValueError, match=r"dev\.json: question 0 lacks 'query'"):
        load_spider(tiny_spider, "dev")
    path.write_text(json.dumps([{"db_id": "nowhere", "question": "q", "query": "SELECT 1"}]))
    with pytest.raises(ValueError, match="'nowhere'.*tables.json"):
        load_spider(tiny_spider, "dev")


def test_missing_folder_or_split_says_what_was_looked_for(tmp_path, tiny_spider):
    with pytest.raises(FileNotFoundError, match=r"tables\.json.*dev\.json.*train_spider\.json"):
        resolve_spider_root(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match=r"train_spider\.json"):
        load_spider(tiny_spider, "train")
    with pytest.raises(ValueError, match="unknown Spider split"):
        load_spider(tiny_spider, "validation")


@pytest.mark.slow
def test_three_train_gold_queries_fail_with_a_typed_error(spider):
    from t2sql_lib.sql import SQLRuntimeError, execute_sql

    train = load_spider(spider, "train", hardness=False)
    failures = {}
    for ex in train:
        result = execute_sql(ex.db_path, ex.sql)
        if not result.ok:
            failures[ex.meta["index"]] = result.error
    assert sorted(failures) == [3153, 4513, 4514]
    assert all(isinstance(err, SQLRuntimeError) for err in failures.values())
