"""A domain description read from any SQLite file, and ``t2sql adapt --synthesize-only`` on it."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import random
import sqlite3
import time
from collections import Counter
from pathlib import Path

import pytest
import torch

from t2sql_lib.adapt import same_rows, synthesize_for_database
from t2sql_lib.cli import main
from t2sql_lib.sql import execute_sql
from t2sql_lib.synth.build import _generated_databases, generate_for_database
from t2sql_lib.synth.from_database import (
    column_role,
    describe_database,
    name_words,
    plural,
    singular,
    sql_name,
    table_words,
)

REGIONS = ("north", "south", "east", "west")
CROPS = ("barley", "rye", "oats", "maize", "spelt")


def _make_farm(path: Path) -> Path:
    """A small database: cities, growers (city key not declared) and harvests (declared key, one crop in ten
    missing)."""
    rng = random.Random(0)
    con = sqlite3.connect(path)
    con.executescript("""
        CREATE TABLE tbl_city (city_id INTEGER PRIMARY KEY, CITY_NAME TEXT, region TEXT, population INTEGER,
                               founded DATE, is_capital INTEGER, notes TEXT, mayor TEXT);
        CREATE TABLE growers (id INTEGER PRIMARY KEY, growerName TEXT, growing_days INTEGER, cityId INTEGER,
                              rating REAL, joined TEXT, license_code INTEGER);
        CREATE TABLE harvests (harvest_id INTEGER PRIMARY KEY,
                               grower_id INTEGER REFERENCES growers (id), crop TEXT, weight_kg REAL,
                               harvested_on DATE);
    """)
    day = dt.date(2015, 1, 1).toordinal()
    for i in range(1, 13):
        con.execute("INSERT INTO tbl_city VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (i, f"Town {chr(64 + i)}ville", REGIONS[i % 4], rng.randint(1_000, 90_000),
                     dt.date.fromordinal(day - rng.randint(0, 40_000)).isoformat(), int(i == 1),
                     "A long note about the town that nobody asks a question about, " * 2,
                     None if i % 3 == 0 else f"Mayor {i}"))
    for i in range(1, 31):
        con.execute("INSERT INTO growers VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (i, f"Grower {i:02d} Farm", rng.randint(90, 240), rng.randint(1, 12),
                     round(rng.uniform(1, 5), 2), dt.date.fromordinal(day + rng.randint(0, 3000)).isoformat(),
                     rng.randint(10_000, 99_999)))
    for i in range(1, 121):
        con.execute("INSERT INTO harvests VALUES (?, ?, ?, ?, ?)",
                    (i, rng.randint(1, 27), None if i % 10 == 0 else rng.choice(CROPS), round(rng.uniform(10, 900), 2),
                     dt.date.fromordinal(day + rng.randint(0, 2000)).isoformat()))
    con.commit()
    con.close()
    return path


@pytest.fixture(scope="module")
def farm(tmp_path_factory) -> Path:
    return _make_farm(tmp_path_factory.mktemp("farm") / "farm.sqlite")


@pytest.fixture(scope="module")
def farm_synthesis(farm):
    return synthesize_for_database(farm, 600)


def _spider_db(db_id: str) -> Path:
    from t2sql_lib.spider import resolve_spider_root, spider_db_path

    try:
        path = spider_db_path(resolve_spider_root(), db_id)
    except FileNotFoundError:
        pytest.skip("Spider is not available")
    if not path.is_file():
        pytest.skip(f"Spider database {db_id} is not available")
    return path


def _all_execute(path: Path, examples) -> list[str]:
    """The gold queries that fail or return no row through the safe executor."""
    bad = []
    for example in examples:
        result = execute_sql(path, example.sql)
        if not (result.ok and result.rows):
            bad.append(example.sql)
    return bad


# ---------------------------------------------------------------- names to words
@pytest.mark.parametrize("name, words", [
    ("growing_days", "growing days"), ("CITY_NAME", "city name"), ("cityName", "city name"),
    ("CityName", "city name"), ("HTTPServer", "http server"), ("address_line1", "address line 1"),
    ("LName", "last name"), ("dept_no", "department number"), ("qty", "quantity"), ("Song-Title", "song title"),
    ("prix_café", "prix café"),
])
def test_names_turn_into_words(name, words):
    assert name_words(name) == words


@pytest.mark.parametrize("name, words", [("tbl_city", "city"), ("Has_Pet", "pet record"), ("car_makers", "car makers"),
                                         ("TV_Channel", "tv channel")])
def test_table_names_turn_into_words(name, words):
    assert table_words(name) == words


@pytest.mark.parametrize("one, many", [
    ("city", "cities"), ("address", "addresses"), ("car maker", "car makers"), ("person", "people"),
    ("singer in concert", "singers in concert"), ("day", "days"), ("status", "statuses"), ("data", "data"),
    ("course", "courses"), ("house", "houses"), ("size", "sizes"), ("match", "matches"), ("box", "boxes"),
])
def test_singular_and_plural(one, many):
    assert plural(one) == many
    assert singular(many) == one


def test_awkward_names_are_quoted():
    assert sql_name("growers") == "growers"
    assert sql_name("order") == '"order"' and sql_name("Group") == '"Group"'
    assert sql_name("unit price") == '"unit price"' and sql_name('say "hi"') == '"say ""hi"""'


# ---------------------------------------------------------------- roles and keys
def test_column_roles_from_names_and_values():
    assert column_role("region", ["north", "south", "north", "east"] * 3) == "category"
    assert column_role("population", [10, 2000, 35, 4]) == "measure"
    assert column_role("birth_year", [1990, 1985, 1990]) == "ordinal"
    assert column_role("zip_code", [12345, 54321]) == "id"
    assert column_role("phone_number", [5551234, 5559876]) == "id"
    assert column_role("version_number", [1, 2, 2, 3]) == "ordinal"
    assert column_role("is_open", [0, 1, 1, 0]) == "boolean"
    assert column_role("active", ["T", "F", "T"]) == "boolean"
    assert column_role("opened", ["2020-01-02", "2021-03-04"]) == "date"
    assert column_role("mayor", ["Ann Lee", None, "Bo Chen"]) == "other"
    assert column_role("region", ["north", None, "north", "south", "south", "north"]) == "category"
    assert column_role("population", [10, None, 35, 4]) == "other"
    assert column_role("mixed", [1, "a", 2]) == "other"
    assert column_role("notes", ["x" * 80, "y" * 90]) == "text"


def test_the_farm_is_read_with_roles_words_and_keys(farm):
    description = describe_database(farm)
    roles = description.roles()
    assert roles["tbl_city"] == {"city_id": "pk", "CITY_NAME": "label", "region": "category", "population": "measure",
                                 "founded": "date", "is_capital": "boolean", "notes": "text", "mayor": "other"}
    assert roles["growers"] == {"id": "pk", "growerName": "label", "growing_days": "measure", "cityId": "fk",
                                "rating": "ordinal", "joined": "date", "license_code": "id"}
    assert roles["harvests"]["grower_id"] == "fk" and roles["harvests"]["crop"] == "category"
    refs = {(r.table, r.column): (r.ref_table, r.declared) for r in description.references}
    assert refs == {("growers", "cityId"): ("tbl_city", False), ("harvests", "grower_id"): ("growers", True)}
    domain = description.database.domain
    city = domain.table("tbl_city")
    assert (city.singular, city.plural) == ("city", "cities")
    growers = domain.table("growers")
    assert (growers.singular, growers.plural) == ("grower", "growers")
    assert {c.name: c.words for c in growers.columns}["growing_days"] == "growing days"
    assert {c.name: c.words for c in city.columns}["CITY_NAME"] == "city name"
    values = description.sample_values(3)
    assert len(values["harvests"]["crop"]) == 3 and set(values["harvests"]["crop"]) <= set(CROPS)
    assert values["tbl_city"]["mayor"] and None not in values["tbl_city"]["mayor"]


def test_a_key_whose_values_do_not_all_join_is_no_link(tmp_path):
    path = tmp_path / "dangling.sqlite"
    con = sqlite3.connect(path)
    con.executescript("""
        CREATE TABLE team (team_id INTEGER PRIMARY KEY, name TEXT);
        CREATE TABLE player (player_id INTEGER PRIMARY KEY, name TEXT, team_id INTEGER, coach_id INTEGER,
                             FOREIGN KEY (coach_id) REFERENCES team (team_id));
    """)
    con.executemany("INSERT INTO team VALUES (?, ?)", [(i, f"Team {i}") for i in range(1, 5)])
    con.executemany("INSERT INTO player VALUES (?, ?, ?, ?)",
                    [(i, f"Player {i}", 1 + i % 5, 1 + i % 4) for i in range(1, 21)])  # team 5 is absent
    con.commit()
    con.close()
    description = describe_database(path)
    assert [(r.table, r.column, r.declared) for r in description.references] == [("player", "coach_id", True)]
    assert description.roles()["player"]["team_id"] != "fk"


def test_text_keys_join_integer_keys(tmp_path):
    path = tmp_path / "text_keys.sqlite"
    con = sqlite3.connect(path)
    con.executescript("""
        CREATE TABLE stadium (Stadium_ID int PRIMARY KEY, Name text, Capacity int);
        CREATE TABLE concert (concert_ID int PRIMARY KEY, Theme text, Stadium_ID text,
                              FOREIGN KEY (Stadium_ID) REFERENCES stadium (Stadium_ID));
    """)
    con.executemany("INSERT INTO stadium VALUES (?, ?, ?)", [(i, f"Arena {i}", 1000 * i) for i in range(1, 7)])
    con.executemany("INSERT INTO concert VALUES (?, ?, ?)", [(i, f"Theme {i}", str(1 + i % 6)) for i in range(1, 13)])
    con.commit()
    con.close()
    description = describe_database(path)
    assert description.roles()["concert"]["Stadium_ID"] == "fk"
    synthesis = synthesize_for_database(path, 300)
    assert any(e.meta["pattern"].startswith("join") for e in synthesis.examples)
    assert not _all_execute(path, synthesis.examples)


# ---------------------------------------------------------------- the pairs
def test_every_gold_query_executes_and_returns_rows(farm, farm_synthesis):
    examples = farm_synthesis.examples
    assert len(examples) >= 300
    assert not _all_execute(farm, examples)
    assert len({(e.question, e.sql) for e in examples}) == len(examples), "each pair once"
    patterns = Counter(e.meta["pattern"] for e in examples)
    assert len(patterns) >= 40, patterns
    assert {"join_project", "join_count_per_parent", "where_date_after", "group_count"} <= set(patterns)


def test_questions_use_the_databases_values(farm, farm_synthesis):
    con = sqlite3.connect(f"file:{farm}?mode=ro", uri=True)
    towns = {r[0] for r in con.execute("SELECT CITY_NAME FROM tbl_city")}
    con.close()
    lookups = [e for e in farm_synthesis.examples if "tbl_city WHERE CITY_NAME = '" in e.sql]
    assert lookups
    for e in lookups:
        town = e.sql.split("CITY_NAME = '")[1].split("'")[0]
        assert town in towns and town in e.question


def test_awkward_names_give_queries_that_run(tmp_path):
    path = tmp_path / "awkward.sqlite"
    con = sqlite3.connect(path)
    con.execute('CREATE TABLE "Order Items" ("id" INTEGER PRIMARY KEY, "item name" TEXT, "group" TEXT, '
                '"unit price" REAL)')
    con.executemany('INSERT INTO "Order Items" VALUES (?, ?, ?, ?)',
                    [(i, f"Item {i}", ("a", "b", "c")[i % 3], 1.5 * i + 0.25) for i in range(1, 25)])
    con.commit()
    con.close()
    synthesis = synthesize_for_database(path, 200)
    assert len(synthesis.examples) >= 50
    assert any('"group"' in e.sql for e in synthesis.examples)
    assert not _all_execute(path, synthesis.examples)
    assert synthesis.description.database.domain.tables[0].plural == "order items"


def test_the_database_file_is_not_changed(tmp_path):
    path = _make_farm(tmp_path / "farm.sqlite")
    before = path.read_bytes(), path.stat().st_mtime_ns
    synthesize_for_database(path, 100)
    assert (path.read_bytes(), path.stat().st_mtime_ns) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["farm.sqlite"], "no journal or other file is left"


def test_the_answer_comparison_notices_differences():
    assert same_rows([(1, "a"), (2.0, "b")], [(2, "b"), (1, "a")], ordered=False)
    assert not same_rows([(1, "a"), (2, "b")], [(2, "b"), (1, "a")], ordered=True)
    assert not same_rows([(1.0,)], [(1.001,)], ordered=False)
    assert same_rows([(None, "x")], [(None, "x")], ordered=False)


# ---------------------------------------------------------------- the generator's own databases
@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    return _generated_databases(0, tmp_path_factory.mktemp("synth"))


def test_an_accept_that_takes_everything_changes_no_draw(generated):
    db = generated["university"]
    plain = [(e.question, e.sql) for e, _ in generate_for_database(db, 200, 0)]
    vetted = [(e.question, e.sql) for e, _ in generate_for_database(db, 200, 0, accept=lambda draft: True)]
    assert plain == vetted


@pytest.mark.parametrize("db_id", ["bookshop", "university", "clinic"])
def test_generated_databases_read_back_with_their_roles(generated, db_id):
    db = generated[db_id]
    description = describe_database(db.path)
    roles = description.roles()
    for table in db.domain.tables:
        for column in table.columns:
            want = column.role
            got = roles[table.name][column.name]
            if want in ("pk", "fk", "label", "date"):
                assert got == want, (table.name, column.name, got)
            elif want in ("measure", "ordinal"):
                assert got in ("measure", "ordinal", "id"), (table.name, column.name, got)
    declared = {(r.table, r.column, r.ref_table) for r in description.references}
    assert declared == {(t.name, c.name, c.ref) for t in db.domain.tables for c in t.by_role("fk")}
    synthesis = synthesize_for_database(db.path, 400)
    assert len(synthesis.examples) >= 300
    assert not _all_execute(db.path, synthesis.examples)


# ---------------------------------------------------------------- Spider, when present
@pytest.mark.parametrize("db_id", ["concert_singer", "pets_1"])
def test_a_spider_database_gives_three_hundred_pairs_quickly(db_id):
    path = _spider_db(db_id)
    start = time.perf_counter()
    synthesis = synthesize_for_database(path, 1000)
    assert time.perf_counter() - start < 30
    assert len(synthesis.examples) >= 300
    assert not _all_execute(path, synthesis.examples)


# ---------------------------------------------------------------- the command line
def test_cli_synthesize_only_writes_pairs_and_summary(farm, tmp_path, capsys):
    out = tmp_path / "adapt"
    assert main(["adapt", "--db", str(farm), "--synthesize-only", "--out", str(out), "--pairs", "300"]) == 0
    printed = capsys.readouterr().out
    assert "question/SQL pairs" in printed and "pairs.jsonl" in printed
    lines = [json.loads(x) for x in (out / "pairs.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(lines) >= 250 and set(lines[0]) == {"question", "sql", "db_id", "pattern"}
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["pairs"] == len(lines) and summary["db_id"] == "farm"
    assert sum(summary["patterns"].values()) == len(lines)
    assert summary["sample"] and summary["roles"]["growers"]["cityId"] == "fk"


def _error(argv: list[str], capsys) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("t2sql adapt: error:") and "\n" not in err, err
    return err


def test_cli_errors_are_one_line(tmp_path, capsys):
    out = str(tmp_path / "out")
    empty = tmp_path / "empty.sqlite"
    sqlite3.connect(empty).close()
    assert "no tables" in _error(["adapt", "--db", str(empty), "--synthesize-only", "--out", out], capsys)

    no_rows = tmp_path / "no_rows.sqlite"
    con = sqlite3.connect(no_rows)
    con.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT)")
    con.close()
    assert "no rows" in _error(["adapt", "--db", str(no_rows), "--synthesize-only", "--out", out], capsys)

    unusable = tmp_path / "unusable.sqlite"
    con = sqlite3.connect(unusable)
    con.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, blob_value BLOB)")
    con.executemany("INSERT INTO t VALUES (?, ?)", [(i, bytes([i])) for i in range(5)])
    con.commit()
    con.close()
    assert "no usable columns" in _error(["adapt", "--db", str(unusable), "--synthesize-only", "--out", out], capsys)

    garbage = tmp_path / "garbage.sqlite"
    garbage.write_bytes(b"this is not a database, only some text " * 50)
    assert "cannot read" in _error(["adapt", "--db", str(garbage), "--synthesize-only", "--out", out], capsys)

    missing = tmp_path / "missing.sqlite"
    assert "no SQLite database" in _error(["adapt", "--db", str(missing), "--synthesize-only", "--out", out], capsys)
    assert not Path(out).exists(), "nothing is written for a database that cannot be used"


@pytest.fixture(scope="module")
def base_model(tmp_path_factory):
    """A tiny course-model folder (random weights, a small BPE) to adapt from."""
    from t2sql_lib.config import PRESETS
    from t2sql_lib.model import GPTModel
    from t2sql_lib.model_folder import save_model_folder
    from t2sql_lib.sft import build_tokenizer
    from t2sql_lib.synth import load_generated

    tiny = PRESETS["tiny"]
    tokenizer = build_tokenizer("bpe", load_generated(n_examples=tiny.data.n_synth_examples)["train"][:300], 400)
    torch.manual_seed(0)
    model = GPTModel(dataclasses.replace(tiny.model, vocab_size=tokenizer.n_vocab, context_length=512))
    preset = dataclasses.replace(tiny, model=model.cfg)
    return save_model_folder(tmp_path_factory.mktemp("base"), model, tokenizer,
                             {"preset": preset.to_dict(), "demo": {"value_hints": False}})


def test_adapt_trains_scores_and_writes_a_model_folder(farm, base_model, tmp_path, capsys):
    from t2sql_lib.model_folder import load_model_folder

    out = tmp_path / "adapted"
    argv = ["adapt", "--db", str(farm), "--out", str(out), "--model", str(base_model), "--steps", "3",
            "--pairs", "80", "--no-progress"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "trained 3 steps on 60 pairs and 60 general questions" in printed
    assert "held-out pairs (20), greedy: execution accuracy" in printed
    report = json.loads((out / "adapt_report.json").read_text())
    assert report["db_id"] == "farm" and report["steps"] == 3 and not report["out_of_time"]
    assert set(report["held_out_execution_accuracy"]) == {"before", "after"}
    adapted, base = load_model_folder(out), load_model_folder(base_model)
    assert adapted.config["adapt"]["db_id"] == "farm" and adapted.config["demo"] == {"value_hints": False}
    changed = [not torch.equal(a, b) for a, b in zip(adapted.model.state_dict().values(),
                                                     base.model.state_dict().values())]
    assert any(changed), "training changed no weight"
    assert (out / "pairs.jsonl").is_file() and (out / "summary.json").is_file()
    # the folder is one `t2sql ask` reads (an untrained model's SQL may fail: exit 1, never the folder's error 2)
    assert main(["ask", "--db", str(farm), "--model", str(out), "How many growers are there?"]) in (0, 1)


def test_adapt_stops_when_its_minutes_are_spent(farm, base_model, tmp_path):
    from t2sql_lib.adapt import AdaptSettings, adapt_model

    settings = AdaptSettings(pairs=80, steps=500, minutes=0.0001, max_new_tokens=8, progress=False)
    adaptation = adapt_model(farm, tmp_path / "budget", base_model, settings)
    assert adaptation.out_of_time and 1 <= adaptation.steps < 500
    assert json.loads((tmp_path / "budget" / "adapt_report.json").read_text())["out_of_time"]


def test_adapt_refuses_a_schema_longer_than_the_context(base_model, tmp_path, capsys):
    wide = tmp_path / "wide.sqlite"
    con = sqlite3.connect(wide)
    for t in range(40):
        columns = ", ".join(f"measure_{c}_of_table_{t} INTEGER" for c in range(8))
        con.execute(f"CREATE TABLE things_{t} (thing_{t}_id INTEGER PRIMARY KEY, label_{t} TEXT, {columns})")
        for r in range(6):
            con.execute(f"INSERT INTO things_{t} VALUES (?, ?, {', '.join('?' * 8)})",
                        (r, f"item {r}", *[r * c for c in range(8)]))
    con.commit()
    con.close()
    err = _error(["adapt", "--db", str(wide), "--out", str(tmp_path / "o"), "--model", str(base_model)], capsys)
    assert "more than the model's context of 512" in err


def test_adapt_errors_are_one_line(farm, tmp_path, capsys):
    err = _error(["adapt", "--db", str(farm), "--out", str(tmp_path / "o"), "--model", str(tmp_path / "none")],
                 capsys)
    assert "no model folder" in err
    assert "--steps must be at least 1" in _error(["adapt", "--db", str(farm), "--out", str(tmp_path / "o"),
                                                    "--steps", "0"], capsys)
