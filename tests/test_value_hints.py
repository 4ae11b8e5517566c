"""Value hints: the database values a question names, as stored (t2sql_lib.value_hints)."""

from __future__ import annotations

import sqlite3

import pytest

from t2sql_lib.schema import Column, Example, Schema, Table
from t2sql_lib.value_hints import (
    MAX_HINTS,
    add_value_hints,
    find_values,
    hint_text,
    normalize,
    value_index,
    with_value_hints,
)

SCHEMA = Schema("trips", (
    Table("cities", (Column("city_id", "integer"), Column("name"), Column("country"), Column("founded", "date"))),
    Table("hotels", (Column("hotel_id", "integer"), Column("name"), Column("city_id", "integer"))),
))


@pytest.fixture()
def db(tmp_path):
    path = tmp_path / "trips.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE cities (city_id INTEGER, name TEXT, country TEXT, founded DATE)")
        conn.execute("CREATE TABLE hotels (hotel_id INTEGER, name TEXT, city_id INTEGER)")
        conn.executemany("INSERT INTO cities VALUES (?, ?, ?, ?)", [
            (1, "Fairhaven", "Portugal", "1901-02-03"), (2, "Dunmore Bay", "Japan", "1950-01-01"),
            (3, "Bay", "India", "2000-12-31"), (4, "O'Brien Town", "Japan", "1990-05-05")])
        conn.executemany("INSERT INTO hotels VALUES (?, ?, ?)", [(1, "Larkspur Lodge", 1), (2, "Ironvale Inn", 2)])
    value_index.cache_clear()
    return path


def test_normalize():
    assert normalize("  O'Brien   Ltd. ") == "o brien ltd"


def test_a_value_in_any_case_is_found_with_its_column(db):
    assert find_values("hotels in fairhaven?", db, SCHEMA) == [("cities", "name", "Fairhaven")]
    assert find_values("How many stars has IRONVALE INN got", db, SCHEMA) == [("hotels", "name", "Ironvale Inn")]
    assert find_values("guests from japan or india", db, SCHEMA) == [("cities", "country", "Japan"),
                                                                     ("cities", "country", "India")]


def test_a_misspelt_or_inflected_long_word_is_found(db):
    assert find_values("Portugese cities", db, SCHEMA) == [("cities", "country", "Portugal")]
    assert find_values("cities in Fairhavn", db, SCHEMA) == [("cities", "name", "Fairhaven")]
    assert find_values("cities in Fairheaven", db, SCHEMA) == [("cities", "name", "Fairhaven")]
    assert find_values("a fair haven", db, SCHEMA) == []  # short words are not guessed


def test_the_longer_value_wins_over_its_piece(db):
    assert find_values("hotels in dunmore bay", db, SCHEMA) == [("cities", "name", "Dunmore Bay")]
    assert find_values("hotels in bay", db, SCHEMA) == [("cities", "name", "Bay")]


def test_numbers_and_dates_are_not_hinted(db):
    assert find_values("cities founded on 1901-02-03 with 2 hotels", db, SCHEMA) == []


def test_at_most_max_hints(db):
    question = "fairhaven dunmore bay portugal japan india larkspur lodge ironvale inn"
    assert len(find_values(question, db, SCHEMA)) == MAX_HINTS


def test_hint_text_quotes_like_sql():
    assert hint_text([]) == ""
    assert hint_text([("cities", "name", "O'Brien Town")]) == " | values: cities.name = 'O''Brien Town'"


def test_the_database_is_only_read(db):
    before = db.read_bytes()
    with_value_hints("o'brien town", db, SCHEMA)
    assert db.read_bytes() == before and sorted(p.name for p in db.parent.iterdir()) == ["trips.sqlite"]


def test_a_schema_that_does_not_match_the_file_gives_no_hints_from_it(db):
    other = Schema("trips", (Table("missing", (Column("name"),)), *SCHEMA.tables))
    assert find_values("fairhaven", db, other) == [("cities", "name", "Fairhaven")]


def test_add_value_hints_keeps_the_plain_question(db, tmp_path):
    examples = [Example("hotels in fairhaven", "SELECT 1", "trips", db, SCHEMA),
                Example("how many hotels", "SELECT 1", "trips", db, SCHEMA),
                Example("fairhaven", "SELECT 1", "trips", tmp_path / "missing.sqlite", SCHEMA)]
    hinted = add_value_hints(examples)
    assert hinted[0].question == "hotels in fairhaven | values: cities.name = 'Fairhaven'"
    assert hinted[0].meta["plain_question"] == "hotels in fairhaven"
    assert hinted[1] is examples[1] and hinted[2] is examples[2]
