"""WikiSQL: the official format on a fixture the project writes, rendering, official metrics, download."""

from __future__ import annotations

import json
import sqlite3
import tarfile
from pathlib import Path

import pytest

from t2sql_lib.evaluate import evaluate
from t2sql_lib.wikisql import (
    SPLITS,
    WikiSQLQuery,
    WikiSQLTable,
    download_wikisql,
    execute_wikisql,
    load_wikisql,
    logical_form_match,
    parse_readable,
    parse_wikisql_number,
    render_executable,
    render_readable,
    sha256_file,
    wikisql_table_name,
    write_wikisql_fixture,
)

MOUNTAINS = WikiSQLTable("1-0000001-1", ("Mountain", "Height (m)", "Country", "Range", "First ascent"),
                         ("text", "real", "text", "text", "real"))


@pytest.fixture()
def fixture_dir(tmp_path: Path) -> Path:
    return write_wikisql_fixture(tmp_path / "wikisql")


def test_fixture_is_in_the_official_format(fixture_dir):
    for split in SPLITS:
        for name in (f"{split}.jsonl", f"{split}.tables.jsonl", f"{split}.db"):
            assert (fixture_dir / name).is_file()
    line = json.loads((fixture_dir / "dev.jsonl").read_text().splitlines()[0])
    assert set(line) >= {"table_id", "question", "sql"} and set(line["sql"]) == {"sel", "agg", "conds"}
    con = sqlite3.connect(fixture_dir / "dev.db")
    cols = [r[1] for r in con.execute("PRAGMA table_info(table_1_0000001_1)")]
    assert cols == ["col0", "col1", "col2", "col3", "col4"]
    assert con.execute("SELECT col0 FROM table_1_0000001_1 WHERE col1 = 8848").fetchall() == [("mount everest",)]
    con.close()


def test_load_wikisql(fixture_dir):
    dev = load_wikisql(fixture_dir, "dev")
    assert len(dev) == 7 and len(load_wikisql(fixture_dir, "train")) == 4 and len(load_wikisql(fixture_dir, "test")) == 2
    first = dev[0]
    assert first.question == "What is the height of the tallest mountain in Nepal?"
    assert first.sql == 'SELECT MAX("Height (m)") FROM table_1_0000001_1 WHERE "Country" = \'Nepal\''
    assert first.meta["exec_sql"] == "SELECT MAX(col1) AS result FROM table_1_0000001_1 WHERE col2 = 'nepal'"
    assert first.meta["wikisql_query"] == {"sel": 1, "agg": 1, "conds": [[2, 0, "Nepal"]]}
    assert first.db_path == fixture_dir / "dev.db"
    assert [c.name for c in first.schema.tables[0].columns][:2] == ["Mountain", "Height (m)"]


def test_rendering_both_forms():
    query = WikiSQLQuery(sel=0, agg=3, conds=((2, 0, "Nepal"), (1, 1, "8,500")))
    assert render_readable(query, MOUNTAINS) == \
        'SELECT COUNT("Mountain") FROM table_1_0000001_1 WHERE "Country" = \'Nepal\' AND "Height (m)" > \'8,500\''
    types = {f"col{i}": t for i, t in enumerate(MOUNTAINS.types)}
    assert render_executable(query, "table_1_0000001_1", types) == \
        "SELECT COUNT(col0) AS result FROM table_1_0000001_1 WHERE col2 = 'nepal' AND col1 > 8500.0"
    quoted = WikiSQLTable("x", ('Club "nickname"', "It's"), ("text", "text"))
    assert render_readable(WikiSQLQuery(0, 0, ((1, 0, "Ben's"),)), quoted) == \
        'SELECT "Club ""nickname""" FROM table_x WHERE "It\'s" = \'Ben\'\'s\''
    assert wikisql_table_name("1-10015132-11") == "table_1_10015132_11"


def test_numbers_for_real_columns():
    assert parse_wikisql_number("1,234.5") == 1234.5
    assert parse_wikisql_number("8500 m") == 8500.0
    assert parse_wikisql_number(" -3 ") == -3.0
    assert parse_wikisql_number(7) == 7.0
    with pytest.raises(ValueError, match="no number"):
        parse_wikisql_number("n/a")


def test_parse_readable_round_trips_and_rejects_other_sql():
    query = WikiSQLQuery(sel=1, agg=2, conds=((4, 1, 1954), (2, 0, "Nepal")))
    assert parse_readable(render_readable(query, MOUNTAINS), MOUNTAINS) == query
    for bad in ["SELECT * FROM t", "SELECT Mountain, Country FROM t", "SELECT Mountain FROM t ORDER BY 1",
                "SELECT Mountain FROM t WHERE Country LIKE 'N%'", "SELECT Nope FROM t",
                "SELECT Mountain FROM t WHERE Country = 'a' OR Country = 'b'", "DROP TABLE t", ""]:
        with pytest.raises(ValueError):
            parse_readable(bad, MOUNTAINS)


def test_logical_form_semantics():
    gold = WikiSQLQuery(0, 0, ((2, 0, "Nepal"), (3, 0, "Mahalangur Himalaya")))
    assert logical_form_match(WikiSQLQuery(0, 0, ((3, 0, "mahalangur himalaya"), (2, 0, "NEPAL"))), gold)
    assert not logical_form_match(WikiSQLQuery(0, 3, gold.conds), gold)  # other aggregation
    assert not logical_form_match(WikiSQLQuery(1, 0, gold.conds), gold)  # other column
    assert not logical_form_match(WikiSQLQuery(0, 0, ((2, 0, "Nepal"),)), gold)  # a condition missing
    assert not logical_form_match(WikiSQLQuery(0, 0, ((2, 1, "Nepal"), (3, 0, "Mahalangur Himalaya"))), gold)


def test_official_execution_semantics(fixture_dir):
    db = fixture_dir / "dev.db"
    # Values are lower-cased, so "NEPAL" finds the lower-cased rows
    assert execute_wikisql(db, "1-0000001-1", WikiSQLQuery(0, 3, ((2, 0, "NEPAL"),))).rows == [(4,)]
    # A value with a unit, for a real column, compares as its number
    rows = execute_wikisql(db, "1-0000001-1", WikiSQLQuery(0, 0, ((1, 1, "8600 metres"),))).rows
    assert rows == [("mount everest",), ("k2",)]
    # No number where a real column needs one: an execution error, not an exception
    result = execute_wikisql(db, "1-0000001-1", WikiSQLQuery(0, 0, ((1, 1, "tall"),)))
    assert not result.ok and "no number" in str(result.error)


def test_gold_scores_100_and_wrong_predictions_do_not(fixture_dir):
    dev = load_wikisql(fixture_dir, "dev")
    gold = evaluate(dev, [ex.sql for ex in dev])
    summary = gold.summary()["all"]
    assert summary["logical_form_accuracy"] == 1.0 and summary["execution_accuracy"] == 1.0
    assert summary["valid_sql"] == 1.0

    preds = [ex.sql for ex in dev]
    preds[0] = preds[0].replace("'Nepal'", "'nepal'")  # value case: still right on both metrics
    preds[1] = 'SELECT "Mountain" FROM table_1_0000001_1 WHERE "Height (m)" > 8500'  # same rows, other value text
    preds[2] = preds[2].replace("MIN", "MAX")  # wrong aggregation
    preds[3] = "SELECT name FROM mountains"  # not a WikiSQL query over this table
    preds[4] = ""
    report = evaluate(dev, preds)
    rows = report.per_example()
    assert list(rows["logical_form_accuracy"][:5]) == [True, False, False, False, False]
    assert list(rows["execution_accuracy"][:5]) == [True, True, False, False, False]
    assert list(rows["valid_sql"][:5]) == [True, True, True, False, False]
    assert "logical_form_accuracy" in report.to_dataframe().columns


def test_bad_files_name_file_and_line(fixture_dir, tmp_path):
    path = fixture_dir / "dev.jsonl"
    lines = path.read_text().splitlines()
    lines[2] = lines[2][:-5]
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=r"dev\.jsonl:3: malformed JSON"):
        load_wikisql(fixture_dir, "dev")
    lines[2] = json.dumps({"table_id": "9-9-9", "question": "q", "sql": {"sel": 0, "agg": 0, "conds": []}})
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=r"dev\.jsonl:3: missing '9-9-9'"):
        load_wikisql(fixture_dir, "dev")
    lines[2] = json.dumps({"table_id": "1-0000001-1", "question": "q", "sql": {"sel": 9, "agg": 0, "conds": []}})
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=r"dev\.jsonl:3: bad sql: selected column 9"):
        load_wikisql(fixture_dir, "dev")
    with pytest.raises(FileNotFoundError, match=r"dev\.jsonl.*dev\.tables\.jsonl.*dev\.db"):
        load_wikisql(tmp_path / "absent", "dev")


def _fixture_tarball(tmp_path: Path) -> Path:
    write_wikisql_fixture(tmp_path / "src" / "data")
    archive = tmp_path / "release.tar.bz2"
    with tarfile.open(archive, "w:bz2") as tar:
        tar.add(tmp_path / "src" / "data", arcname="data")
    return archive


def test_download_checks_the_sha256_and_caches(tmp_path):
    archive = _fixture_tarball(tmp_path)
    digest = sha256_file(archive)
    dest = tmp_path / "cache"
    folder = download_wikisql(dest, url=archive.as_uri(), sha256=digest)
    assert folder == dest / "data" and (folder / "dev.db").is_file()
    assert len(load_wikisql(dest, "dev")) == 7
    # Cached: a second call does not download again (the URL no longer works)
    assert download_wikisql(dest, url=(tmp_path / "gone.tar.bz2").as_uri(), sha256=digest) == folder


def test_download_with_a_wrong_checksum_fails_and_keeps_nothing(tmp_path):
    archive = _fixture_tarball(tmp_path)
    dest = tmp_path / "cache"
    with pytest.raises(ValueError, match="SHA-256 .* does not match the expected 0000"):
        download_wikisql(dest, url=archive.as_uri(), sha256="0" * 64)
    assert not (dest / "data.tar.bz2").exists() and not (dest / "data").exists()


def test_download_refuses_archive_members_outside_the_folder(tmp_path):
    evil_file = tmp_path / "evil.txt"
    evil_file.write_text("x")
    archive = tmp_path / "evil.tar.bz2"
    with tarfile.open(archive, "w:bz2") as tar:
        tar.add(evil_file, arcname="../escaped.txt")
    with pytest.raises(ValueError, match="refusing to extract"):
        download_wikisql(tmp_path / "cache", url=archive.as_uri(), sha256=sha256_file(archive))
    assert not (tmp_path / "escaped.txt").exists()


def test_fixture_writer_never_overwrites_other_files(tmp_path):
    folder = tmp_path / "real"
    folder.mkdir()
    (folder / "dev.db").write_bytes(b"not ours")
    with pytest.raises(FileExistsError, match="dev.db"):
        write_wikisql_fixture(folder)
    assert (folder / "dev.db").read_bytes() == b"not ours"
    again = write_wikisql_fixture(tmp_path / "fixture")
    assert write_wikisql_fixture(again) == again  # its own files it may replace


def test_cli_eval_on_the_wikisql_fixture(fixture_dir, tmp_path, capsys):
    from t2sql_lib.cli import main

    preds = tmp_path / "preds.txt"
    preds.write_text("\n".join(ex.sql for ex in load_wikisql(fixture_dir, "dev")) + "\n")
    out = tmp_path / "report.json"
    assert main(["eval", "--dataset", "wikisql", "--split", "dev", "--root", str(fixture_dir),
                 "--predictions", str(preds), "--output", str(out)]) == 0
    summary = json.loads(out.read_text())["summary"]["all"]
    assert summary["logical_form_accuracy"] == 1.0 and summary["execution_accuracy"] == 1.0
    assert "logical_form_accuracy" in capsys.readouterr().out


def test_sample_values_feed_the_prompt(fixture_dir):
    from t2sql_lib.prompts import serialize_schema
    from t2sql_lib.wikisql import load_wikisql_tables

    table = load_wikisql_tables(fixture_dir / "dev.tables.jsonl")["1-0000001-1"]
    samples = table.sample_values(max_values=2)
    assert samples["table_1_0000001_1.Country"] == ["Nepal", "Pakistan"]
    text = serialize_schema(table.schema(), samples, max_values=2)
    assert text.startswith("table_1_0000001_1(Mountain text ['Mount Everest', 'K2'], \"Height (m)\" real [8848, 8611]")
