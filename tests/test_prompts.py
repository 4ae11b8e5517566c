"""Schema serialisation and the prompt/target format."""

from __future__ import annotations

import doctest
import sqlite3
from pathlib import Path

import t2sql_lib.prompts as prompts
from t2sql_lib.prompts import (
    build_example_text,
    build_prompt,
    build_target,
    quote_name,
    sample_column_values,
    serialize_schema,
)
from t2sql_lib.schema import Column, Example, ForeignKey, Schema, Table
from t2sql_lib.special_tokens import ENDOFTEXT, QUESTION, SCHEMA, SQL
from t2sql_lib.sql import read_schema

SCHEMA_OBJ = Schema(
    "concerts",
    (Table("singer", (Column("singer_id", "integer"), Column("name"), Column("Home Town")), primary_key=("singer_id",)),
     Table("concert", (Column("concert_id", "integer"), Column("singer_id", "integer"), Column("year", "integer")),
           primary_key=("concert_id",))),
    (ForeignKey("concert", "singer_id", "singer", "singer_id"),),
)


def test_docstring_examples_hold():
    result = doctest.testmod(prompts)
    assert result.attempted >= 5 and result.failed == 0


def test_serialize_schema_is_compact():
    text = serialize_schema(SCHEMA_OBJ)
    assert text.splitlines() == [
        'singer(singer_id integer pk, name text, "Home Town" text)',
        "concert(concert_id integer pk, singer_id integer, year integer)",
        "fk: concert.singer_id -> singer.singer_id",
    ]
    no_fk = Schema("x", (Table("t", (Column("a"),)),))
    assert serialize_schema(no_fk) == "t(a text)"


def test_sample_values_are_capped_and_quoted():
    samples = {"singer.name": ["O'Brien", "A" * 50, "Li", "Extra"], ("concert", "year"): [2014.0, 2015]}
    text = serialize_schema(SCHEMA_OBJ, samples, max_values=3)
    assert "name text ['O''Brien', '" + "A" * 27 + "...', 'Li']" in text
    assert "year integer [2014, 2015]" in text
    assert "Extra" not in text
    assert "[" not in serialize_schema(SCHEMA_OBJ, {"SINGER.NAME": []})
    assert "name text ['x']" in serialize_schema(SCHEMA_OBJ, {"SINGER.NAME": ["x"]})  # names are case-insensitive


def test_sample_column_values_from_a_database(tmp_path: Path):
    db = tmp_path / "s.sqlite"
    con = sqlite3.connect(db)
    con.executescript("CREATE TABLE t (a text, b int); INSERT INTO t VALUES ('x', NULL), ('x', NULL), ('y', 1);")
    con.commit()
    con.close()
    samples = sample_column_values(db, read_schema(db), max_values=3)
    assert sorted(samples["t.a"]) == ["x", "y"]
    assert samples["t.b"] == [1]


def test_prompt_and_target_use_the_special_tokens():
    prompt = build_prompt(SCHEMA_OBJ, "  How many   singers?\n")
    assert prompt.startswith(f"{SCHEMA} singer(") and prompt.endswith(f"{QUESTION} How many singers? {SQL}")
    assert build_target("SELECT  name ,\n country FROM singer") == f" SELECT name , country FROM singer{ENDOFTEXT}"
    # whitespace inside string literals and quoted names is data, and is kept
    assert build_target("SELECT \"Home  Town\" FROM singer WHERE name = 'a  b'") == \
        f" SELECT \"Home  Town\" FROM singer WHERE name = 'a  b'{ENDOFTEXT}"
    example = Example("How many singers?", "SELECT count(*) FROM singer", "concerts", None, SCHEMA_OBJ)
    assert build_example_text(example) == build_prompt(SCHEMA_OBJ, "How many singers?") + \
        f" SELECT count(*) FROM singer{ENDOFTEXT}"


def test_quote_name():
    assert quote_name("singer_id") == "singer_id"
    assert quote_name("Home Town") == '"Home Town"'
    assert quote_name('a"b') == '"a""b"'
    assert quote_name("1st") == '"1st"'


def test_spider_prompt_is_short(spider):
    from t2sql_lib.spider import load_spider

    example = load_spider(spider, "dev", hardness=False)[0]
    prompt = build_prompt(example.schema, example.question)
    assert "singer(Singer_ID number pk, Name text" in prompt
    assert "fk: concert.Stadium_ID -> stadium.Stadium_ID" in prompt
    assert len(prompt) < 700
