"""Metrics, hardness buckets, the report, the predictions file and `t2sql eval`."""

from __future__ import annotations

import collections
import json
import sqlite3
from pathlib import Path

import pytest

from t2sql_lib.cli import main
from t2sql_lib.evaluate import (
    EvalReport,
    evaluate,
    execution_match,
    is_ordered,
    is_valid_sql,
    read_predictions,
    results_match,
    string_match,
)
from t2sql_lib.hardness import hardness_counts, spider_hardness
from t2sql_lib.schema import Example, ExampleList
from t2sql_lib.sql import read_schema


@pytest.fixture()
def db(tmp_path: Path) -> Path:
    path = tmp_path / "shop.sqlite"
    con = sqlite3.connect(path)
    con.executescript("""
        CREATE TABLE item (id integer PRIMARY KEY, name text, price real, shop_id integer);
        CREATE TABLE shop (shop_id integer PRIMARY KEY, city text);
        INSERT INTO shop VALUES (1, 'Oslo'), (2, 'Bergen');
        INSERT INTO item VALUES (1, 'pen', 1.5, 1), (2, 'ink', 4.0, 1), (3, 'pad', 2.25, 2), (4, 'pen', 1.5, 2);
    """)
    con.commit()
    con.close()
    return path


def test_results_match_multiset_and_order():
    assert results_match([(1,), (2,)], [(2,), (1,)], ordered=False)
    assert not results_match([(1,), (2,)], [(2,), (1,)], ordered=True)
    assert not results_match([(1,), (1,), (2,)], [(1,), (2,), (2,)], ordered=False)  # multisets, not sets
    assert not results_match([(1, 2)], [(1,)], ordered=False)
    assert results_match([(0.1 + 0.2,)], [(0.3,)], ordered=False)
    assert results_match([], [], ordered=True)


def test_execution_match(db):
    gold = "SELECT name FROM item WHERE price < 2"
    assert execution_match(db, "SELECT name FROM item WHERE price < 2.0 ORDER BY id DESC", gold)
    assert not execution_match(db, "SELECT DISTINCT name FROM item WHERE price < 2", gold)  # multiset differs
    assert not execution_match(db, "SELECT name FROM item", gold)
    assert not execution_match(db, "DROP TABLE item", gold)
    assert not execution_match(db, "", gold)
    ordered = "SELECT name FROM item ORDER BY price DESC, id"
    assert execution_match(db, "SELECT name FROM item ORDER BY price DESC, id", ordered)
    assert not execution_match(db, "SELECT name FROM item ORDER BY price, id", ordered)
    assert is_ordered(ordered) and not is_ordered("SELECT a FROM (SELECT a FROM t ORDER BY a)")


def test_string_match_and_validity(db):
    assert string_match("select T1.name from item as T1 where T1.price > 2 and T1.shop_id = 1",
                       "SELECT name FROM item WHERE shop_id = 1 AND price > 2")
    assert not string_match("SELECT name FROM item WHERE price > 3", "SELECT name FROM item WHERE price > 2")
    assert not string_match("not sql at all (", "SELECT 1")
    assert is_valid_sql(db, "SELECT count(*) FROM shop")
    assert not is_valid_sql(db, "SELECT missing FROM shop")
    assert not is_valid_sql(db, "DELETE FROM shop")


# Hardness, by the official rules, for queries from Spider dev whose counts are worked out in the comments.
HARDNESS_CASES = [
    # nothing but a table: component1 0, others 0
    ("SELECT count(*) FROM singer", "easy"),
    # ORDER BY (c1 = 1) and three columns (others = 1)
    ("SELECT name ,  country ,  age FROM singer ORDER BY age DESC", "medium"),
    # WHERE (c1 = 1); three aggregates (others +1) and three columns (+1): others = 2
    ("SELECT avg(age) ,  min(age) ,  max(age) FROM singer WHERE country  =  'France'", "medium"),
    # WHERE + nested subquery as the value: c1 = 1, c2 = 1, others = 0 -> hard
    ("SELECT song_name FROM singer WHERE age  >  (SELECT avg(age) FROM singer)", "hard"),
    # JOIN (c1 +1), GROUP BY (+1), ORDER BY (+1), LIMIT (+1): c1 = 4 -> extra
    ("SELECT T2.name FROM concert AS T1 JOIN stadium AS T2 ON T1.stadium_id = T2.stadium_id "
     "GROUP BY T1.stadium_id ORDER BY count(*) DESC LIMIT 1", "extra"),
    # INTERSECT: c2 = 1, and two WHERE (c1 = 1 for the first part only), others 0 -> hard
    ("SELECT country FROM singer WHERE age  >  40 INTERSECT SELECT country FROM singer WHERE age  <  30", "hard"),
    # NOT IN with a subquery: c1 = 1, c2 = 1, and the NOT flag counts as an aggregate (1, not > 1): hard
    ("SELECT name FROM stadium WHERE stadium_id NOT IN (SELECT stadium_id FROM concert)", "hard"),
    # WHERE with OR (c1 = 2), LIKE twice (c1 = 4), two conditions (others 1) -> extra
    ("SELECT name FROM singer WHERE name LIKE '%a%' OR name LIKE '%b%'", "extra"),
]


@pytest.mark.parametrize("sql, expected", HARDNESS_CASES)
def test_spider_hardness(sql, expected):
    assert spider_hardness(sql) == expected


def test_hardness_counts_components():
    counts = hardness_counts("SELECT a, b FROM t JOIN u ON t.x = u.x WHERE a LIKE 'x%' GROUP BY a, b")
    assert counts.component1 == 4  # WHERE, GROUP BY, one join, one LIKE
    assert counts.component2 == 0
    assert counts.others == 2  # two selected columns, two GROUP BY columns


def test_hardness_distribution_of_spider_dev_matches_the_published_one(spider):
    # The Spider paper's dev set: 248 easy, 446 medium, 174 hard, 166 extra (1,034 questions).
    questions = json.loads((spider / "dev.json").read_text())
    counts = collections.Counter(spider_hardness(q["query"]) for q in questions)
    assert counts == {"easy": 248, "medium": 446, "hard": 174, "extra": 166}


def make_examples(db: Path) -> list[Example]:
    schema = read_schema(db)
    golds = [("How many shops?", "SELECT count(*) FROM shop", "easy"),
             ("Cheap items?", "SELECT name FROM item WHERE price < 2", "easy"),
             ("Items per city?", "SELECT city, count(*) FROM item JOIN shop ON item.shop_id = shop.shop_id "
                                 "GROUP BY city", "medium")]
    return [Example(question=q, sql=s, db_id="shop", db_path=db, schema=schema, meta={"hardness": h, "index": i})
            for i, (q, s, h) in enumerate(golds)]


def test_evaluate_report(db, tmp_path):
    examples = make_examples(db)
    predictions = ["select COUNT(*) from shop", "SELECT name FROM item WHERE price < 3", None]
    report = evaluate(examples, predictions)
    assert isinstance(report, EvalReport)
    df = report.to_dataframe()
    assert list(df.index) == ["easy", "medium", "all"]
    assert list(df.columns) == ["count", "execution_accuracy", "exact_match", "valid_sql"]
    assert df.loc["easy", "count"] == 2 and df.loc["all", "count"] == 3
    assert df.loc["easy", "execution_accuracy"] == pytest.approx(0.5)
    assert df.loc["all", "valid_sql"] == pytest.approx(2 / 3)
    assert df.loc["medium", "execution_accuracy"] == 0
    assert report.counts()["missing_predictions"] == 1
    data = json.loads(report.to_json())
    assert data["summary"]["all"]["execution_accuracy"] == pytest.approx(1 / 3)
    assert [r["execution_accuracy"] for r in data["examples"]] == [True, False, False]
    path = report.save_json(tmp_path / "out" / "report.json")
    assert json.loads(path.read_text())["counts"]["questions"] == 3
    assert "1 questions without a prediction" in str(report)
    with pytest.raises(ValueError, match="2 predictions for 3 examples"):
        evaluate(examples, predictions[:2])


def test_missing_database_names_db_id_and_path(db, tmp_path):
    [example] = make_examples(db)[:1]
    example.db_path = tmp_path / "database" / "shop" / "shop.sqlite"
    with pytest.raises(FileNotFoundError, match=r"db_id 'shop'.*database/shop/shop\.sqlite"):
        evaluate([example], ["SELECT 1"])


def test_gold_against_itself_scores_100(db):
    examples = make_examples(db)
    report = evaluate(examples, [ex.sql for ex in examples])
    assert report.execution_accuracy == 1.0
    assert report.to_dataframe().loc["all", "exact_match"] == 1.0


def test_read_predictions(db, tmp_path):
    examples = make_examples(db)
    file = tmp_path / "preds.txt"
    file.write_text("SELECT 1\tshop\r\nSELECT 2 |shop\n")
    assert read_predictions(file, examples) == ["SELECT 1", "SELECT 2", None]
    file.write_text("SELECT 1\nSELECT 2\tconcert_singer\n")
    with pytest.raises(ValueError, match=r"preds.txt:2: .*concert_singer"):
        read_predictions(file, examples)
    file.write_text("SELECT 1\n" * 4)
    with pytest.raises(ValueError, match="4 lines"):
        read_predictions(file, examples)
    file.write_bytes(b"SELECT 1\nSELECT '\xff'\n")
    with pytest.raises(ValueError, match="preds.txt:2"):
        read_predictions(file, examples)
    with pytest.raises(FileNotFoundError, match="absent.txt"):
        read_predictions(tmp_path / "absent.txt", examples)


def test_read_predictions_pairs_by_index_when_the_file_covers_skipped_questions(db, tmp_path):
    kept = make_examples(db)
    kept[1].meta["index"], kept[2].meta["index"] = 2, 3  # question 1 was skipped by the loader
    examples = ExampleList(kept, skipped={"no database": 1})
    file = tmp_path / "preds.txt"
    file.write_text("a\nb\nc\nd\n")
    assert read_predictions(file, examples) == ["a", "c", "d"]


def test_cli_eval_gold_and_empty_on_spider_dev(spider, tmp_path, capsys):
    out = tmp_path / "gold.json"
    assert main(["eval", "--dataset", "spider", "--split", "dev", "--root", str(spider),
                 "--predictions", str(spider / "dev_gold.sql"), "--output", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["counts"]["questions"] == 972 and report["counts"]["execution_match"] == 972
    assert report["summary"]["all"]["execution_accuracy"] == 1.0
    for bucket in ("easy", "medium", "hard", "extra"):
        assert report["summary"][bucket]["execution_accuracy"] == 1.0
    printed = capsys.readouterr().out
    assert "execution_accuracy" in printed and "972 execution matches" in printed

    empty = tmp_path / "empty.txt"
    empty.write_text("")
    out = tmp_path / "empty.json"
    assert main(["eval", "--root", str(spider), "--predictions", str(empty), "--output", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["summary"]["all"]["execution_accuracy"] == 0.0
    assert report["counts"]["missing_predictions"] == 972
    assert "0 predictions read" in capsys.readouterr().out


def test_cli_eval_reports_bad_input(tmp_path, capsys):
    assert main(["eval", "--root", str(tmp_path), "--predictions", str(tmp_path / "p.txt")]) == 2
    assert "tables.json" in capsys.readouterr().err


def test_not_like_counts_like_and_the_not_flag():
    """sqlglot writes NOT LIKE as Like(negate=True); it counts as a LIKE and, like NOT IN, as a NOT flag."""
    plain = hardness_counts("SELECT count(*) FROM singer WHERE name LIKE '%a%'")
    negated = hardness_counts("SELECT count(*) FROM singer WHERE name NOT LIKE '%a%'")
    assert negated.component1 == plain.component1  # the LIKE is counted either way
    assert negated.others == plain.others + 1  # one aggregate + one NOT flag > 1
