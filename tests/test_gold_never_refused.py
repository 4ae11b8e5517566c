"""A gold query is never refused: written token by token, as a model writes it, every token of a gold query (and the
end) passes the masks of every constrained decoder (chapter 6).

The queries: the generated data, queries in other styles (``data/gold_styles.jsonl``: aliases of any name used
before FROM, upper- and mixed-case names and keywords, quoted names, ``MAX( x )``, nested and correlated sub-queries,
IN/EXISTS/BETWEEN/LIKE/CASE, set operations, LIMIT/OFFSET, numbers and dates the question lacks) and a sample of
Spider's train and dev sets when ``../shared`` is there. The tokenizers: a chapter-1 BPE trained on the data and
GPT-2's. ``benchmarks/bench_gold_refusals.py`` runs all of Spider.

The value rule (``ValueConstraint``) refuses by design a value the question does not hold (``'F'`` for "female"):
there the test checks that a refusal is at a value, never at a name or a keyword.
"""

from __future__ import annotations

import json
import random

from t2sql_lib.generate import (
    DECODERS,
    Refusal,
    SchemaConstraint,
    SqlState,
    TokenVocab,
    ValueConstraint,
    first_refusal,
)
from t2sql_lib.prompts import build_target
from t2sql_lib.schema import Example
from t2sql_lib.special_tokens import ENDOFTEXT

SPIDER_SAMPLE = 120  # questions from each of Spider's train and dev sets


def _styles(root, splits) -> list[Example]:
    """The hand-written queries in other styles, on the generated databases."""
    schemas = {e.db_id: e.schema for split in splits.values() for e in split}
    rows = [json.loads(line) for line in (root / "data" / "gold_styles.jsonl").read_text().splitlines() if line]
    return [Example(r["question"], r["sql"], r["db_id"], None, schemas[r["db_id"]]) for r in rows]


def _encoders(tokenizer, gpt2_encoding):
    """(name, TokenVocab, encode) for the data's BPE and for GPT-2's BPE."""
    return [("bpe", TokenVocab.from_tokenizer(tokenizer), tokenizer.encode),
            ("gpt2", TokenVocab.from_tokenizer(gpt2_encoding),
             lambda text: gpt2_encoding.encode(text, allowed_special="all"))]


def _at_a_value(refusal: Refusal) -> bool:
    """Whether a refusal is where the value rule rules: inside '...', at a quote, or at a number's digits or end."""
    after_number = refusal.written.rstrip(".")[-1:].isdigit()  # "0" before ".9", or "3." before its decimals
    return (refusal.written.count("'") % 2 == 1 or "'" in refusal.token or any(ch.isdigit() for ch in refusal.token)
            or (after_number and (refusal.token == ENDOFTEXT or refusal.token.startswith("."))))


def _report(refused: list[tuple[str, str, Refusal]]) -> str:
    """The first refused token of each refused query, with what came before it."""
    return "\n".join(f"[{where}] {sql}\n    refused {r.token!r} after {r.written!r}" for where, sql, r in refused[:12])


def _check(examples: list[Example], encoders, values_from_question: bool = True) -> list[tuple[str, str, Refusal]]:
    """Asserts that no gold query is refused by the schema constraint; returns the value rule's refusals after
    checking that each is at a value (all of them when ``values_from_question``: the question holds every value)."""
    schema_refused, value_refused = [], []
    for name, vocab, encode in encoders:
        constraints: dict[str, SchemaConstraint] = {}
        for ex in examples:
            schema = constraints.setdefault(ex.db_id, SchemaConstraint(ex.schema, vocab))
            ids = encode(build_target(ex.sql))
            refusal = first_refusal(schema, ids)
            if refusal is not None:
                schema_refused.append((f"{name} schema", ex.sql, refusal))
                continue
            refusal = first_refusal(ValueConstraint(schema, ex.question), ids)
            if refusal is not None:
                value_refused.append((f"{name} values: {ex.question}", ex.sql, refusal))
    assert not schema_refused, f"{len(schema_refused)} gold queries refused:\n{_report(schema_refused)}"
    if values_from_question:
        assert not value_refused, f"{len(value_refused)} gold queries refused:\n{_report(value_refused)}"
    elsewhere = [r for r in value_refused if not _at_a_value(r[2])]
    assert not elsewhere, f"the value rule refused a name or a keyword:\n{_report(elsewhere)}"
    return value_refused


def test_generated_gold_is_never_refused(splits, tokenizer, gpt2_encoding):
    examples = [e for split in splits.values() for e in split]
    assert len(examples) >= 200
    _check(examples, _encoders(tokenizer, gpt2_encoding))


def test_gold_in_other_styles_is_never_refused(root, splits, tokenizer, gpt2_encoding):
    examples = _styles(root, splits)
    assert len(examples) >= 50
    value_refused = _check(examples, _encoders(tokenizer, gpt2_encoding), values_from_question=False)
    # the values of some of these queries are not in their questions ('2023-06-01', 2.5e3): refused at the value
    assert any("2.5e3" in sql for _, sql, _ in value_refused)


def _spider_sample(spider) -> list[Example]:
    from t2sql_lib.spider import load_spider, load_spider_schemas

    schemas = load_spider_schemas(spider)
    rng = random.Random(0)
    sample = []
    for split in ("train", "dev"):
        examples = list(load_spider(spider, split, hardness=False, schemas=schemas))
        sample += rng.sample(examples, SPIDER_SAMPLE)
    return sample


def test_spider_gold_is_never_refused(spider, tokenizer, gpt2_encoding):
    """A sample of Spider's gold, with GPT-2's BPE and a BPE trained on Spider's text. Spider's own values are
    paraphrases now and then ('F' for "female"): the value rule may refuse those, at the value."""
    from t2sql_lib.tokenizer import BPETokenizer

    examples = _spider_sample(spider)
    spider_bpe = BPETokenizer.train([f"{e.question} {e.sql}" for e in examples], vocab_size=400)
    encoders = _encoders(spider_bpe, gpt2_encoding)[:1] + _encoders(tokenizer, gpt2_encoding)[1:]
    value_refused = _check(examples, encoders, values_from_question=False)
    assert len(value_refused) <= 0.05 * len(examples) * len(encoders)


def test_masks_allow_what_first_refusal_allows(splits, root, tokenizer):
    """``first_refusal`` asks each constraint about one token (``allows_next``); the masks a decoder applies say the
    same at every step of the gold queries."""
    vocab = TokenVocab.from_tokenizer(tokenizer)
    examples = splits["test"][:6] + _styles(root, splits)[::6]
    for ex in examples:
        schema = SchemaConstraint(ex.schema, vocab)
        values = ValueConstraint(schema, ex.question)
        ids = tokenizer.encode(build_target(ex.sql))
        for i, token in enumerate(ids):
            written = vocab.decode(ids[:i])
            state = schema.state_of(written)
            assert bool(schema.allowed(state)[token]) == schema.allows_next(written, token), (ex.sql, written)
            mask = values.allowed(state, values.written_value(state, written))
            expected = bool(mask[token]) if bool(mask.any()) else bool(schema.allowed(state)[token])
            assert expected == values.allows_next(written, token), (ex.sql, written)


def test_every_constrained_decoder_uses_these_masks():
    """The decoders that constrain use ``SchemaConstraint``, with ``ValueConstraint`` around it for values; the
    execution-guided ones pick among beams written under the same masks."""
    constrained = {name for name, s in DECODERS.items() if s.schema_constrained}
    assert constrained == {"constrained", "constrained_execution_guided", "constrained_values",
                           "constrained_values_execution_guided"}
    assert not any(s.join_keys for s in DECODERS.values())  # the join-key rule refuses Spider's gold: off


def test_a_keyword_is_not_an_operand(splits, tokenizer):
    """``SUM(betweeN)`` passed the masks, read as the keyword BETWEEN in any case: where an operand is expected only
    a keyword that may begin one (NOT, CASE, EXISTS, SELECT...) stands."""
    vocab = TokenVocab.from_tokenizer(tokenizer)
    c = SchemaConstraint(next(e.schema for e in splits["test"] if e.db_id == "farm"), vocab)

    def ok(sql: str) -> bool:
        state = c.advance(SqlState(), " " + sql)
        return state is not None and c.may_end(state)

    for sql in ("SELECT SUM(betweeN) FROM harvests", "SELECT MAX( AND yield_tonnes) FROM harvests",
                "SELECT name, FROM crops", "SELECT name FROM crops WHERE from = 1", "SELECT DISTINCT FROM crops"):
        assert not ok(sql), sql
    refusal = first_refusal(c, tokenizer.encode(build_target("SELECT SUM(betweeN) FROM harvests")))
    assert refusal is not None and refusal.written.startswith(" SELECT SUM(betw")
    for sql in ("SELECT SUM(yield_tonnes) FROM harvests WHERE yield_tonnes NOT BETWEEN 1 AND 2",
                "SELECT name FROM crops WHERE NOT EXISTS (SELECT * FROM harvests WHERE NOT crop_id IS NULL)",
                "SELECT COUNT(DISTINCT name), CASE WHEN season IS NOT NULL THEN 1 ELSE 0 END FROM crops"):
        assert ok(sql), sql


def hotel_constraint(splits, tokenizer) -> SchemaConstraint:
    """The schema constraint of the hotel database, over ``tokenizer``'s vocabulary."""
    return SchemaConstraint(next(e.schema for e in splits["test"] if e.db_id == "hotel"),
                            TokenVocab.from_tokenizer(tokenizer))


def completes(c: SchemaConstraint, sql: str) -> bool:
    """Whether ``c`` lets ``sql`` be written whole and end there."""
    state = c.advance(SqlState(), " " + sql)
    return state is not None and c.may_end(state)


def test_names_defined_later_are_checked_when_defined(splits, tokenizer):
    """An alias may be used before the FROM that defines it, under any name; its columns are checked once it is
    bound to a table, and the query may not end while a name it used is undefined."""
    c = hotel_constraint(splits, tokenizer)

    def ok(sql: str) -> bool:
        return completes(c, sql)

    assert ok("SELECT guest.name, r.floor FROM guests guest, rooms AS r")
    assert c.advance(SqlState(), " SELECT h.nme FROM hotels AS h ") is None  # hotels has no column nme
    assert not ok("SELECT h.name FROM hotels")  # h is never defined
    assert c.advance(SqlState(), " SELECT name FROM hotels WHERE h.") is None  # no FROM left to define h
    assert ok("SELECT s.n FROM (SELECT COUNT(*) AS n FROM rooms) AS s")  # a sub-query's column, by its alias
    assert not ok("SELECT s.n FROM (SELECT COUNT(*) FROM rooms) AS s")
    # a name in ON before the JOIN that defines it (SQLite runs it; one of Spider's train queries does it)
    assert ok("SELECT * FROM hotels AS T1 JOIN rooms AS T2 ON T1.hotel_id = T3.hotel_id JOIN rooms AS T3 ON 1")
    assert ok("SELECT T1.name FROM hotels AS T1 WHERE T1.hotel_id IN (SELECT T1.hotel_id FROM rooms AS T1) "
              "AND T1.stars > 3")  # T1 bound again inside, and the outer T1 again after it
    assert c.advance(SqlState(), " SELECT T1.name FROM hotels AS T1 WHERE T1.hotel_id IN (SELECT T1.hotel_id "
                                 "FROM rooms AS T1) AND T1.floor") is None  # hotels has no floor


def test_with_names_stand_after_from(splits, tokenizer):
    """``WITH t AS (...)`` defines names that may follow FROM like tables; no other name may."""
    c = hotel_constraint(splits, tokenizer)

    def ok(sql: str) -> bool:
        return completes(c, sql)

    assert ok("WITH big AS (SELECT * FROM hotels WHERE stars > 3), n AS (SELECT 1 AS one) SELECT big.name FROM big, n")
    assert ok("WITH RECURSIVE c AS (SELECT 1 AS x UNION ALL SELECT x + 1 FROM c WHERE x < 5) SELECT x FROM c")
    assert c.advance(SqlState(), " SELECT name FROM big") is None
    assert c.advance(SqlState(), " WITH big AS (SELECT * FROM hotels) SELECT name FROM bog") is None
