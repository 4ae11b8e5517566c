"""Spider's exact set match (t2sql_lib.spider_match) and the official execution rules (t2sql_lib.evaluate).

Hand-made pairs on a small concert/singer schema, each with the verdict the official definition gives and the
rule it tests; then checks on the real Spider dev set, which skip when it is not on this machine.
"""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest

from t2sql_lib.cli import build_parser
from t2sql_lib.evaluate import (
    evaluate,
    gold_orders_rows,
    remove_distinct,
    results_match_any_column_order,
    spider_execution_match,
    string_match,
)
from t2sql_lib.schema import Column, Example, ForeignKey, Schema, Table
from t2sql_lib.spider_match import (
    COMPONENTS,
    SpiderParseError,
    exact_set_match,
    mismatched_components,
    parse_spider_sql,
    spider_schema,
)


def _table(name: str, *columns: str) -> Table:
    return Table(name, tuple(Column(c) for c in columns), primary_key=(columns[0],))


SCHEMA = Schema(
    "concert_singer",
    (
        _table("stadium", "stadium_id", "name", "capacity"),
        _table("singer", "singer_id", "name", "country", "age"),
        _table("concert", "concert_id", "concert_name", "stadium_id", "year"),
        _table("singer_in_concert", "concert_id", "singer_id"),
    ),
    (
        ForeignKey("concert", "stadium_id", "stadium", "stadium_id"),
        ForeignKey("singer_in_concert", "singer_id", "singer", "singer_id"),
        ForeignKey("singer_in_concert", "concert_id", "concert", "concert_id"),
    ),
)

JOIN = "FROM concert AS T1 JOIN stadium AS T2 ON T1.stadium_id = T2.stadium_id"

# (prediction, gold, verdict): each line's comment names the rule it tests.
PAIRS = [
    # SELECT is a multiset: the order of the columns does not matter
    ("SELECT age, name FROM singer", "SELECT name, age FROM singer", True),
    # ... but every selected item must be there
    ("SELECT name FROM singer", "SELECT name, age FROM singer", False),
    # ... with its aggregate
    ("SELECT max(age) FROM singer", "SELECT min(age) FROM singer", False),
    # count(*) and count(column) are different items
    ("SELECT count(name) FROM singer", "SELECT count(*) FROM singer", False),
    # WHERE conditions form a multiset: their order does not matter
    ("SELECT name FROM singer WHERE country = 'France' AND age > 20",
     "SELECT name FROM singer WHERE age > 20 AND country = 'France'", True),
    # the connectives are compared as a set: AND is not OR
    ("SELECT name FROM singer WHERE age > 20 OR country = 'France'",
     "SELECT name FROM singer WHERE age > 20 AND country = 'France'", False),
    # the operator of a condition counts
    ("SELECT name FROM singer WHERE age >= 20", "SELECT name FROM singer WHERE age > 20", False),
    # values are ignored: strings ...
    ("SELECT name FROM singer WHERE country = 'USA'", "SELECT name FROM singer WHERE country = \"France\"", True),
    # ... numbers, and BETWEEN bounds
    ("SELECT name FROM singer WHERE age BETWEEN 1 AND 2", "SELECT name FROM singer WHERE age BETWEEN 30 AND 40", True),
    # the column a condition tests is not a value: it counts
    ("SELECT name FROM singer WHERE country = 'France'", "SELECT name FROM singer WHERE name = 'France'", False),
    # the NOT flag counts (and NOT is a keyword)
    ("SELECT name FROM singer WHERE name NOT LIKE '%a%'", "SELECT name FROM singer WHERE name LIKE '%a%'", False),
    # aliases are resolved to tables: renamed ...
    ("SELECT A.capacity FROM concert AS B JOIN stadium AS A ON B.stadium_id = A.stadium_id",
     f"SELECT T2.capacity {JOIN}", True),
    # ... or left out, with the column found in the FROM tables
    ("SELECT capacity FROM concert JOIN stadium ON concert.stadium_id = stadium.stadium_id",
     f"SELECT T2.capacity {JOIN}", True),
    # keyword and name case do not matter
    ("select t2.CAPACITY from CONCERT as t1 join STADIUM as t2 on t1.stadium_id = t2.stadium_id",
     f"SELECT T2.capacity {JOIN}", True),
    # the FROM tables are a multiset: their order does not matter, JOIN conditions are not compared
    ("SELECT T1.capacity FROM stadium AS T1 JOIN concert AS T2 ON T2.concert_id = T1.capacity",
     f"SELECT T2.capacity {JOIN}", True),
    # ... but every table must be there
    ("SELECT capacity FROM stadium", f"SELECT T2.capacity {JOIN}", False),
    # columns linked by a foreign key count as one (for the tables of the outermost FROM)
    (f"SELECT T1.stadium_id, count(*) {JOIN} GROUP BY T1.stadium_id",
     f"SELECT T2.stadium_id, count(*) {JOIN} GROUP BY T2.stadium_id", True),
    # DISTINCT is ignored, the official default: in SELECT ...
    ("SELECT DISTINCT country FROM singer", "SELECT country FROM singer", True),
    # ... and inside an aggregate
    ("SELECT count(DISTINCT country) FROM singer", "SELECT count(country) FROM singer", True),
    # a nested query is compared whole, its values ignored
    ("SELECT name FROM singer WHERE age > (SELECT avg(age) FROM singer WHERE country = 'USA')",
     "SELECT name FROM singer WHERE age > (SELECT avg(age) FROM singer WHERE country = 'France')", True),
    # ... its columns counted
    ("SELECT name FROM singer WHERE age > (SELECT max(age) FROM singer)",
     "SELECT name FROM singer WHERE age > (SELECT avg(age) FROM singer)", False),
    # ... and DISTINCT kept there, as the official script compares nested queries as written
    ("SELECT name FROM stadium WHERE stadium_id IN (SELECT DISTINCT stadium_id FROM concert)",
     "SELECT name FROM stadium WHERE stadium_id IN (SELECT stadium_id FROM concert)", False),
    # NOT IN a nested query is not EXCEPT
    ("SELECT name FROM stadium WHERE stadium_id NOT IN (SELECT stadium_id FROM concert)",
     "SELECT name FROM stadium EXCEPT SELECT T2.name FROM concert AS T1 JOIN stadium AS T2 "
     "ON T1.stadium_id = T2.stadium_id", False),
    # set operations: each part matched by exact set match again (values ignored, columns in any order)
    ("SELECT age, country FROM singer WHERE age > 1 INTERSECT SELECT age, country FROM singer WHERE age < 2",
     "SELECT country, age FROM singer WHERE age > 40 INTERSECT SELECT country, age FROM singer WHERE age < 30", True),
    # ... and the operator counts: INTERSECT is not UNION
    ("SELECT country FROM singer WHERE age > 40 UNION SELECT country FROM singer WHERE age < 30",
     "SELECT country FROM singer WHERE age > 40 INTERSECT SELECT country FROM singer WHERE age < 30", False),
    # ... nor is a part that differs
    ("SELECT country FROM singer WHERE age > 40 INTERSECT SELECT name FROM singer WHERE age < 30",
     "SELECT country FROM singer WHERE age > 40 INTERSECT SELECT country FROM singer WHERE age < 30", False),
    # GROUP BY and HAVING: the HAVING value is ignored ...
    ("SELECT country FROM singer GROUP BY country HAVING count(*) > 5",
     "SELECT country FROM singer GROUP BY country HAVING count(*) > 1", True),
    # ... its operator is not
    ("SELECT country FROM singer GROUP BY country HAVING count(*) < 1",
     "SELECT country FROM singer GROUP BY country HAVING count(*) > 1", False),
    # ... a missing HAVING is a missing component
    ("SELECT country FROM singer GROUP BY country", "SELECT country FROM singer GROUP BY country HAVING count(*) > 1",
     False),
    # ... the grouped column counts
    ("SELECT country FROM singer GROUP BY name", "SELECT country FROM singer GROUP BY country", False),
    # ... and, with HAVING or not, the official check reads the grouped columns in order
    ("SELECT count(*) FROM singer GROUP BY age, country", "SELECT count(*) FROM singer GROUP BY country, age", False),
    # ORDER BY: the direction counts
    ("SELECT name FROM singer ORDER BY age ASC", "SELECT name FROM singer ORDER BY age DESC", False),
    # ... ASC is the default
    ("SELECT name FROM singer ORDER BY age ASC", "SELECT name FROM singer ORDER BY age", True),
    # ... the sort keys are compared in order
    ("SELECT name FROM singer ORDER BY country, age", "SELECT name FROM singer ORDER BY age, country", False),
    # ... with a LIMIT or without one, not the same
    ("SELECT name FROM singer ORDER BY age DESC", "SELECT name FROM singer ORDER BY age DESC LIMIT 1", False),
    # ... the LIMIT's value is ignored
    ("SELECT name FROM singer ORDER BY age DESC LIMIT 3", "SELECT name FROM singer ORDER BY age DESC LIMIT 1", True),
    # ... an ORDER BY the gold query lacks is extra
    ("SELECT name FROM singer ORDER BY age", "SELECT name FROM singer", False),
    # ORDER BY an output alias reads as the aliased expression
    ("SELECT country, count(*) AS n FROM singer GROUP BY country ORDER BY n DESC LIMIT 1",
     "SELECT country, count(*) FROM singer GROUP BY country ORDER BY count(*) DESC LIMIT 1", True),
    # a prediction outside the grammar (another function) is no match, never an error
    ("SELECT upper(name) FROM singer", "SELECT name FROM singer", False),
    # ... nor a column no table has
    ("SELECT height FROM singer", "SELECT name FROM singer", False),
    # ... nor text that is not SQL
    ("SELEC name FRM singer", "SELECT name FROM singer", False),
    ("", "SELECT name FROM singer", False),
]


@pytest.mark.parametrize("pred, gold, expected", PAIRS)
def test_exact_set_match_pairs(pred, gold, expected):
    assert exact_set_match(pred, gold, SCHEMA) is expected


def test_mismatched_components_name_the_clause():
    assert mismatched_components("SELECT name FROM singer", "SELECT name FROM singer", SCHEMA) == []
    assert mismatched_components("SELECT name FROM singer ORDER BY age ASC",
                                 "SELECT name FROM singer ORDER BY age DESC", SCHEMA) == ["order", "keywords"]
    assert mismatched_components("SELECT age FROM singer", "SELECT name FROM singer", SCHEMA) == ["select"]
    assert mismatched_components("SELECT nope(", "SELECT name FROM singer", SCHEMA) == ["parse"]
    assert set(COMPONENTS) >= {"select", "where", "group", "order", "iuen", "keywords", "from"}


def test_a_huge_blob_literal_is_a_value_not_a_crash():
    # sqlglot's default dialect reads X'..' as an integer; written back in SQLite's, it stays a blob of any length
    blob = "X'" + "ab" * 2500 + "'"
    assert exact_set_match(f"SELECT name FROM singer WHERE name = {blob}",
                           "SELECT name FROM singer WHERE name = 'x'", SCHEMA) is True  # values are ignored
    assert exact_set_match(f"SELECT {blob} FROM singer", "SELECT name FROM singer", SCHEMA) is False


def test_gold_outside_the_grammar_raises_one_line_error():
    with pytest.raises(SpiderParseError, match="height"):
        exact_set_match("SELECT name FROM singer", "SELECT height FROM singer", SCHEMA)
    with pytest.raises(SpiderParseError):
        parse_spider_sql("SELECT name FROM nowhere", SCHEMA)


def test_union_chain_reads_right_nested_with_the_final_order_on_the_last_part():
    # sqlglot reads (A UNION B) EXCEPT C; the official grammar A UNION (B EXCEPT C), the LIMIT belonging to C
    q = parse_spider_sql("SELECT name FROM singer UNION SELECT name FROM stadium EXCEPT SELECT concert_name "
                         "FROM concert LIMIT 2", SCHEMA)
    assert q.union is not None and q.limit is None
    assert q.union.except_ is not None and q.union.except_.limit == "2"


def test_foreign_key_groups_follow_the_official_construction():
    fk = spider_schema(SCHEMA).fk_map
    # the representative is the column listed first in tables.json order
    assert fk["concert.stadium_id"] == fk["stadium.stadium_id"] == "stadium.stadium_id"
    assert fk["singer_in_concert.singer_id"] == "singer.singer_id"
    assert "singer.name" not in fk


# ---------------------------------------------------------------------------------------------------------
# Execution by the official rules

@pytest.fixture()
def db(tmp_path: Path) -> Path:
    path = tmp_path / "concert_singer.sqlite"
    con = sqlite3.connect(path)
    con.executescript("""
        CREATE TABLE singer (singer_id integer PRIMARY KEY, name text, country text, age integer);
        CREATE TABLE stadium (stadium_id integer PRIMARY KEY, name text, capacity integer);
        CREATE TABLE concert (concert_id integer PRIMARY KEY, concert_name text, stadium_id integer, year text);
        CREATE TABLE singer_in_concert (concert_id integer, singer_id integer);
        INSERT INTO singer VALUES (1, 'Ann', 'France', 30), (2, 'Bo', 'France', 41), (3, 'Cy', 'USA', 25);
        INSERT INTO stadium VALUES (1, 'Arena', 500), (2, 'Bowl', 900);
        INSERT INTO concert VALUES (1, 'Spring', 1, '2014'), (2, 'Fall', 1, '2015');
    """)
    con.commit()
    con.close()
    return path


def test_remove_distinct_drops_the_keyword_not_a_value():
    sql = "SELECT DISTINCT country, count(DISTINCT name) FROM singer WHERE name = 'distinct'"
    assert remove_distinct(sql) == "SELECT  country, count( name) FROM singer WHERE name = 'distinct'"
    assert remove_distinct("not sql '") == "not sql '"


def test_order_counts_when_the_gold_text_has_order_by_anywhere():
    assert gold_orders_rows("SELECT a FROM t ORDER BY a")
    assert gold_orders_rows("SELECT a FROM (SELECT a FROM t ORDER BY a LIMIT 2)")  # the official rule: anywhere
    assert not gold_orders_rows("SELECT orderby FROM t")


def test_results_match_with_columns_in_any_order():
    gold = [(1, "a"), (2, "b")]
    assert results_match_any_column_order(gold, [("b", 2), ("a", 1)], ordered=False)
    assert not results_match_any_column_order(gold, [("b", 2), ("a", 1)], ordered=True)
    assert results_match_any_column_order(gold, [("a", 1), ("b", 2)], ordered=True)
    assert not results_match_any_column_order(gold, [(1, "b"), (2, "a")], ordered=False)  # rows pair the values
    assert not results_match_any_column_order([(1,), (1,)], [(1,)], ordered=False)  # multisets
    assert results_match_any_column_order([], [], ordered=True)


def test_spider_execution_rules(db):
    gold = "SELECT country FROM singer"
    # DISTINCT removed from both before running: the added DISTINCT does not change the answer ...
    assert spider_execution_match(db, "SELECT DISTINCT country FROM singer", gold)
    # ... unless kept
    assert not spider_execution_match(db, "SELECT DISTINCT country FROM singer", gold, keep_distinct=True)
    # no ORDER BY in the gold query: any order of rows
    assert spider_execution_match(db, "SELECT country FROM singer ORDER BY age DESC", gold)
    ordered = "SELECT name FROM singer ORDER BY age DESC"
    assert not spider_execution_match(db, "SELECT name FROM singer ORDER BY age", ordered)
    # columns in another order
    assert spider_execution_match(db, "SELECT age, name FROM singer", "SELECT name, age FROM singer")
    assert not spider_execution_match(db, "SELECT nope FROM singer", gold)


def _spider_example(db: Path, sql: str) -> Example:
    return Example(question="q", sql=sql, db_id="concert_singer", db_path=db, schema=SCHEMA,
                   meta={"dataset": "spider", "hardness": "easy", "index": 0})


def test_evaluate_scores_spider_by_the_official_rules(db):
    examples = [_spider_example(db, "SELECT country FROM singer WHERE age > 20"),
                _spider_example(db, "SELECT name FROM singer ORDER BY age DESC")]
    preds = ["select distinct country from singer where age > 99", "SELECT name FROM singer ORDER BY age"]
    report = evaluate(examples, preds)
    first, second = report.records
    assert (first["exact_match"], first["string_match"], first["execution_accuracy"]) == (True, False, False)
    assert (second["exact_match"], second["string_match"], second["execution_accuracy"]) == (False, False, False)
    assert list(report.to_dataframe().columns) == ["count", "execution_accuracy", "exact_match", "string_match",
                                                   "valid_sql"]
    text = str(report)
    assert "1 exact set matches (0 string matches)" in text
    assert "DISTINCT removed from both queries" in text and report.info["keep_distinct"] is False
    kept = evaluate(examples[:1], ["SELECT DISTINCT country FROM singer WHERE age > 20"], keep_distinct=True)
    assert kept.records[0]["execution_accuracy"] is False and "DISTINCT kept" in str(kept)


def test_string_match_is_the_normalised_text():
    assert string_match("select T1.name from singer as T1", "SELECT name FROM singer")
    assert not string_match("SELECT DISTINCT name FROM singer", "SELECT name FROM singer")


def test_cli_eval_has_a_keep_distinct_switch():
    args = build_parser().parse_args(["eval", "--predictions", "p.sql", "--keep-distinct"])
    assert args.keep_distinct is True
    assert build_parser().parse_args(["eval", "--predictions", "p.sql"]).keep_distinct is False


# ---------------------------------------------------------------------------------------------------------
# On Spider dev (skipped when Spider is not on this machine)

@pytest.fixture(scope="module")
def dev(spider):
    from t2sql_lib.spider import load_spider

    return load_spider(spider, "dev")


def test_every_dev_gold_query_is_read_and_matches_itself(dev):
    assert all(exact_set_match(ex.sql, ex.sql, ex.schema) for ex in dev)


def test_foreign_keys_to_one_column_form_one_group_on_flight_2(dev):
    ex = next(e for e in dev if e.db_id == "flight_2")
    # flights.SourceAirport and flights.DestAirport both reference airports.AirportCode: the official map
    # gives them one representative, so the two read alike.
    assert exact_set_match("SELECT count(*) FROM flights WHERE DestAirport = 'APG'",
                           "SELECT count(*) FROM flights WHERE SourceAirport = 'APG'", ex.schema)


def test_dev_alterations_score_as_the_official_evaluator_does(dev):
    sample = [ex for ex in dev if not re.match(r"\s*select\s+distinct", ex.sql, re.IGNORECASE)][:40]
    preds = [re.sub(r"^\s*select\b", "SELECT DISTINCT", ex.sql.lower(), count=1) for ex in sample]
    report = evaluate(sample, preds)
    assert all(r["exact_match"] for r in report.records)  # lower-cased values and DISTINCT are ignored
    assert not any(r["string_match"] for r in report.records)
