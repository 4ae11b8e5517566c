"""The surface grammar that rewords generated questions (t2sql_lib.synth.surface)."""

from __future__ import annotations

import random
import re

import pytest

from t2sql_lib.synth.surface import sql_values, typo, vary_examples, vary_question


def test_sql_values_are_the_quoted_strings_and_numbers():
    sql = "SELECT name FROM guests WHERE city = 'Port Ellen' AND age > 41.5 AND name LIKE 'O''Br%'"
    assert sql_values(sql).split() == ["port", "ellen", "41.5", "o''br%"]


def test_rewording_keeps_every_value_the_question_had(splits):
    rng = random.Random(0)
    changed = 0
    for ex in splits["train"]:
        varied = vary_question(ex.question, ex.sql, rng)
        changed += varied != ex.question
        for literal in re.findall(r"'((?:[^']|'')*)'", ex.sql):
            text = literal.replace("''", "'").strip("%")
            if text and text in ex.question:
                assert text in varied, (ex.question, varied)
        for number in re.findall(r"\b\d+(?:\.\d+)?\b", ex.sql):
            if re.search(rf"\b{re.escape(number)}\b", ex.question):
                assert re.search(rf"\b{re.escape(number)}\b", varied), (ex.question, varied)
    assert changed > 0.8 * len(splits["train"])


def test_vary_examples_rewords_a_fraction_and_keeps_the_template(splits):
    train = splits["train"]
    varied = vary_examples(train, 0.5, seed=3)
    assert [e.sql for e in varied] == [e.sql for e in train]
    reworded = [e for e in varied if "template_question" in e.meta]
    assert 0.3 * len(train) < len(reworded) < 0.6 * len(train)
    assert all(e.meta["template_question"] in {t.question for t in train} for e in reworded)
    assert varied == vary_examples(train, 0.5, seed=3)  # seeded
    assert vary_examples(train, 0.0) == list(train)
    with pytest.raises(ValueError, match="rate=1.5"):
        vary_examples(train, 1.5)


def test_a_typo_is_one_slip_of_the_fingers():
    word = "harvests"
    slips = {word[:i] + word[i + 1:] for i in range(1, len(word) - 1)}  # a letter dropped
    slips |= {word[:i] + word[i] + word[i:] for i in range(1, len(word) - 1)}  # doubled
    slips |= {word[:i] + word[i + 1] + word[i] + word[i + 2:] for i in range(1, len(word) - 1)}  # swapped
    rng = random.Random(1)
    made = {typo(word, rng) for _ in range(200)}
    assert made <= slips and len(made) > 10
    assert all(m[0] == "h" for m in made)  # the first letter stays: people rarely miss it


def test_value_case_writes_the_values_in_lower_case_only_when_asked():
    question, sql = "Which hotels are in Fairhaven?", "SELECT name FROM hotels WHERE city = 'Fairhaven'"
    lowered = {vary_question(question, sql, random.Random(k), value_case=1.0) for k in range(20)}
    assert all("fairhaven" in q and "Fairhaven" not in q for q in lowered)
    kept = {vary_question(question, sql, random.Random(k)) for k in range(20)}
    assert all("Fairhaven" in q for q in kept)
