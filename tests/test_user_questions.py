"""The user-phrased question set (data/user_questions, t2sql_lib.user_questions)."""

from __future__ import annotations

import pytest

from t2sql_lib.sql import execute_sql
from t2sql_lib.synth import domains_in_split, load_generated
from t2sql_lib.user_questions import load_user_questions, read_question_file


@pytest.fixture(scope="module")
def user_sets():
    return {split: load_user_questions(split) for split in ("validation", "test")}


def test_the_set_has_its_sizes_and_covers_every_validation_and_test_database(user_sets):
    assert len(user_sets["test"]) >= 200 and len(user_sets["validation"]) >= 100
    for split, examples in user_sets.items():
        assert {e.db_id for e in examples} == {d.db_id for d in domains_in_split(split)}


def test_every_gold_query_executes_and_returns_rows(user_sets):
    for examples in user_sets.values():
        for e in examples:
            result = execute_sql(e.db_path, e.sql)
            assert result.ok and result.rows, (e.db_id, e.meta["line"], e.sql, result.error)


def test_questions_are_distinct_and_none_is_a_generated_question(user_sets):
    generated = {e.question.lower() for split in ("validation", "test")
                 for e in load_generated(n_examples=4000, seed=0)[split]}
    for examples in user_sets.values():
        questions = [e.question.lower() for e in examples]
        assert len(set(questions)) == len(questions)
        assert not set(questions) & generated


def test_the_registers_are_varied(user_sets):
    styles = {s for e in user_sets["test"] for s in e.meta["style"]}
    assert {"terse", "wordy", "casual", "polite", "imperative", "synonym", "misspelling"} <= styles


def test_a_bad_line_names_the_file_and_the_line(tmp_path):
    path = tmp_path / "farm.jsonl"
    path.write_text('{"question": "how many farms?", "sql": "SELECT COUNT(*) FROM farms"}\n{"question": "x"}\n')
    with pytest.raises(ValueError, match=r"farm\.jsonl:2: expected an object"):
        read_question_file(path)
    path.write_text("not json\n")
    with pytest.raises(ValueError, match=r"farm\.jsonl:1: not JSON"):
        read_question_file(path)


def test_an_unknown_split_or_missing_file_is_refused(tmp_path):
    with pytest.raises(ValueError, match="split='train'"):
        load_user_questions("train")
    with pytest.raises(FileNotFoundError, match="warehouse"):
        load_user_questions("validation", folder=tmp_path)
