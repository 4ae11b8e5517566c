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


def test_the_column_of_a_value_can_be_left_unsaid():
    from t2sql_lib.synth.surface import drop_column_words

    sql = "SELECT name FROM guests WHERE country = 'Mexico'"
    said = "Show the name of the guests with country equal to Mexico."
    unsaid = {drop_column_words(said, sql, random.Random(k)) for k in range(30)}
    assert all(q.startswith("Show the name of the guests ") and q.endswith(" Mexico.") for q in unsaid)
    assert not any("country" in q for q in unsaid) and len(unsaid) > 1
    in_list = drop_column_words("Find the sensors with a sensor type of either thermal camera or tiltmeter.",
                                "SELECT s FROM sensors WHERE sensor_type IN ('thermal camera', 'tiltmeter')",
                                random.Random(0))
    assert "sensor type" not in in_list and in_list.endswith("thermal camera or tiltmeter.")
    negated = "List the name of agents whose office is not one of central and lakeside."
    assert drop_column_words(negated, "SELECT name FROM agents WHERE office NOT IN ('central', 'lakeside')",
                             random.Random(0)) == negated  # "not" lives in the words a negation keeps
    numeric = "Which books have a number of pages of at least 428?"
    assert drop_column_words(numeric, "SELECT title FROM books WHERE pages >= 428", random.Random(0)) == numeric


def test_implicit_columns_draw_nothing_when_off(splits):
    train = splits["train"][:200]
    assert vary_examples(train, 0.5, seed=3) == vary_examples(train, 0.5, seed=3, implicit_columns=0.0)
    unsaid = vary_examples(train, 1.0, seed=3, value_case=0.3, implicit_columns=1.0)
    assert any("template_question" in e.meta for e in unsaid)
