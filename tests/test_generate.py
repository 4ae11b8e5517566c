"""Chapter 6's decoding: sampling filters, the KV cache, left padding, beam search, schema-constrained and
execution-guided decoding."""

from __future__ import annotations

import math
import re
import sqlite3

import pytest
import torch

from t2sql_lib.generate import (
    DECODERS,
    DecodingSettings,
    SchemaConstraint,
    SqlState,
    TokenVocab,
    beam_search,
    decode_sql,
    generate,
    left_pad,
    pick_executable,
    sample_next,
    top_k_filter,
    top_p_filter,
)
from t2sql_lib.model import GPTConfig, GPTModel, KVCache, generate_greedy
from t2sql_lib.prompts import build_prompt, build_target


@pytest.fixture(scope="module")
def vocab(tokenizer):
    return TokenVocab.from_tokenizer(tokenizer)


def _reference(model, prompt, max_new, eos=None):
    """Chapter 3's uncached greedy decoding, one prompt at a time."""
    n = min(max_new, model.cfg.context_length - len(prompt))
    row = generate_greedy(model, torch.tensor([prompt]), n, eos_id=eos)[0, len(prompt):].tolist()
    return row[: row.index(eos)] if eos is not None and eos in row else row


# --------------------------------------------------------------------------------------------------
# Sampling


def test_top_k_keeps_exactly_the_k_largest():
    logits = torch.tensor([[1.0, 5.0, 3.0, -2.0, 4.0], [0.0, -1.0, 2.0, 1.0, 0.5]])
    kept = top_k_filter(logits, 2).isfinite()
    assert kept.tolist() == [[False, True, False, False, True], [False, False, True, True, False]]
    assert torch.equal(top_k_filter(logits, 5), logits) and torch.equal(top_k_filter(logits, None), logits)
    assert top_k_filter(logits, 1).isfinite().sum(dim=-1).tolist() == [1, 1]


def test_top_p_keeps_the_smallest_set_reaching_p():
    probs = torch.tensor([0.1, 0.5, 0.05, 0.25, 0.1])  # sorted: 0.5 (1), 0.25 (3), 0.1 (0), 0.1 (4), 0.05 (2)
    logits = probs.log()[None]
    # by hand: 0.5 < 0.6, 0.5 + 0.25 = 0.75 >= 0.6 -> {1, 3}; p = 0.5 -> {1}; p = 0.8 -> {1, 3} + one 0.1 token
    assert top_p_filter(logits, 0.6).isfinite()[0].tolist() == [False, True, False, True, False]
    assert top_p_filter(logits, 0.5).isfinite()[0].tolist() == [False, True, False, False, False]
    kept = top_p_filter(logits, 0.8).isfinite()[0]
    assert kept[1] and kept[3] and not kept[2] and int(kept.sum()) == 3
    assert top_p_filter(logits, 0.99).isfinite()[0].tolist() == [True] * 5
    assert top_p_filter(logits, 0.01).isfinite()[0].tolist() == [False, True, False, False, False]  # the top stays


def test_sampling_follows_the_filtered_distribution():
    logits = torch.tensor([[0.0, 1.0, 2.0, 3.0]]).repeat(4000, 1)
    g = torch.Generator().manual_seed(0)
    draws = sample_next(logits, temperature=1.0, top_k=2, generator=g)
    assert set(draws.tolist()) == {2, 3}
    share = float((draws == 3).float().mean())
    assert share == pytest.approx(math.e / (1 + math.e), abs=0.03)  # softmax over the two kept tokens
    hot = sample_next(logits, temperature=5.0, generator=torch.Generator().manual_seed(0))
    assert set(hot.tolist()) == {0, 1, 2, 3}  # a high temperature flattens the distribution


def test_low_temperature_sampling_equals_greedy(lively_model):
    model = lively_model()
    prompts = [[1, 2, 3], [7, 8, 9, 10, 11], [5]]
    greedy = generate(model, prompts, max_new_tokens=12)
    cold = generate(model, prompts, max_new_tokens=12, temperature=1e-6, generator=torch.Generator().manual_seed(0))
    assert cold == greedy
    warm = generate(model, prompts, max_new_tokens=12, temperature=2.0, generator=torch.Generator().manual_seed(0))
    assert warm != greedy  # sampling really samples


# --------------------------------------------------------------------------------------------------
# KV cache and left padding

# the plain model, and a RoPE model with a copy head (chapter 3, section 6), whose cache has one more entry
LAYOUTS = {"plain": {}, "copy_head": {"copy_head": True, "pos_encoding": "rope"}}


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("n_prompt,n_new", [(1, 20), (6, 12), (20, 27), (40, 8)])
def test_cached_greedy_equals_uncached(n_prompt, n_new, layout, lively_model):
    model = lively_model(**LAYOUTS[layout])
    prompt = torch.randint(0, 40, (n_prompt,), generator=torch.Generator().manual_seed(n_prompt)).tolist()
    want = _reference(model, prompt, n_new)
    assert generate(model, [prompt], max_new_tokens=n_new) == [want]
    assert generate(model, [prompt], max_new_tokens=n_new, use_cache=False) == [want]
    assert len(want) == min(n_new, 48 - n_prompt)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_one_cached_step_gives_the_full_forward_logits(layout, lively_model):
    model = lively_model(**LAYOUTS[layout])
    ids = torch.randint(0, 40, (2, 9), generator=torch.Generator().manual_seed(3))
    cache = KVCache()
    with torch.no_grad():
        model(ids[:, :8], torch.arange(8)[None].repeat(2, 1), cache=cache, last_only=True)
        step = model(ids[:, 8:], torch.full((2, 1), 8), cache=cache)
        full = model(ids)[:, -1:]
    assert step.shape == (2, 1, 40) and torch.allclose(step, full, atol=1e-5)
    assert cache.length() == 9 and cache.keys[0].shape == cache.values[1].shape == (2, 4, 9, 8)  # (b, heads, t, hd)
    if layout == "copy_head":  # the copy head's memory: final states and token ids of every position
        assert cache.states.shape == (2, 9, 32) and cache.ids.equal(ids)
    else:
        assert cache.states is None and cache.ids is None
    picked = cache.select(torch.tensor([1, 1, 0]))  # rows in any order, repeats allowed (beams, shared schemas)
    assert picked.keys[1].equal(cache.keys[1][[1, 1, 0]]) and picked.length() == 9 and cache.keys[0].shape[0] == 2


@pytest.mark.parametrize("layout", LAYOUTS)
def test_every_position_gives_the_full_forward_with_and_without_a_cache(layout, lively_model):
    """The logits of all new tokens, as ``model(ids)`` gives them, also after a cache, with default or explicit
    positions, and under an explicit mask (what ``sft.SharedSchemaLM`` trains with)."""
    model = lively_model(**LAYOUTS[layout])
    ids = torch.randint(0, 40, (2, 12), generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        full = model(ids)
        whole = model(ids, torch.arange(12)[None].repeat(2, 1))
        cache = KVCache()
        model(ids[:, :5], cache=cache)
        mask = torch.ones(7, 12, dtype=torch.bool).tril(5)[None].expand(2, -1, -1)  # (batch, new, all)
        rest = model(ids[:, 5:], torch.arange(5, 12)[None].repeat(2, 1), mask, cache)
        cache = KVCache()
        model(ids[:, :5], cache=cache)
        rest_default = model(ids[:, 5:], cache=cache)  # positions after the cache, causal mask: the defaults
        last = model(ids, last_only=True)
    assert whole.shape == full.shape == (2, 12, 40) and last.shape == (2, 1, 40)
    assert torch.allclose(whole, full, atol=1e-5) and torch.allclose(rest, full[:, 5:], atol=1e-5)
    assert torch.allclose(rest_default, full[:, 5:], atol=1e-5) and torch.allclose(last, full[:, -1:], atol=1e-5)


def test_a_cache_that_would_pass_the_context_is_refused(lively_model):
    model = lively_model()
    cache = KVCache()
    model(torch.zeros(1, 40, dtype=torch.long), cache=cache)
    with pytest.raises(ValueError, match="40 cached \\+ 9 tokens"):
        model(torch.zeros(1, 9, dtype=torch.long), cache=cache)


def test_left_padding_layout():
    ids, positions, valid = left_pad([[5, 6, 7], [9]])
    assert ids.tolist() == [[5, 6, 7], [0, 0, 9]]
    assert valid.tolist() == [[True, True, True], [False, False, True]]
    assert positions.tolist() == [[0, 1, 2], [0, 0, 0]]


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("use_cache", [True, False])
def test_batch_with_left_padding_equals_one_by_one(use_cache, layout, lively_model):
    model = lively_model(**LAYOUTS[layout])
    g = torch.Generator().manual_seed(1)
    prompts = [torch.randint(0, 40, (n,), generator=g).tolist() for n in (1, 5, 12, 3, 30, 7, 12, 44)]
    eos = _reference(model, prompts[1], 15)[4]  # a token the model does emit, standing for <|endoftext|>
    want = [_reference(model, p, 15, eos) for p in prompts]
    assert generate(model, prompts, max_new_tokens=15, eos_id=eos, batch_size=8, use_cache=use_cache) == want
    assert generate(model, prompts, max_new_tokens=15, eos_id=eos, batch_size=3, use_cache=use_cache) == want
    assert len({tuple(w) for w in want}) > 4 and any(len(w) < 15 for w in want[:-1])
    assert len(want[-1]) <= 48 - 44  # the 44-token prompt stops at the end of the context


def test_stop_tokens_end_a_row_and_are_kept(lively_model):
    model = lively_model()
    free = generate(model, [[1, 2, 3]], max_new_tokens=12)[0]
    stop = free[3]
    got = generate(model, [[1, 2, 3]], max_new_tokens=12, stop_ids=[stop])[0]
    assert got == free[: free.index(stop) + 1]


def test_generate_rejects_prompts_without_room(lively_model):
    model = lively_model(context=16)
    with pytest.raises(ValueError, match="1 prompts leave no room"):
        generate(model, [[1, 2], list(range(16))], max_new_tokens=4)
    with pytest.raises(ValueError, match="empty prompt"):
        generate(model, [[]], max_new_tokens=4)


# --------------------------------------------------------------------------------------------------
# Beam search


@pytest.mark.parametrize("layout", LAYOUTS)
def test_beam_of_one_is_greedy(layout, lively_model):
    model = lively_model(**LAYOUTS[layout])
    g = torch.Generator().manual_seed(2)
    for n in (2, 9, 25):
        prompt = torch.randint(0, 40, (n,), generator=g).tolist()
        free = _reference(model, prompt, 14)
        eos = free[5]
        (tokens, _), = beam_search(model, prompt, beam_size=1, max_new_tokens=14, eos_id=eos)
        assert tokens == _reference(model, prompt, 14, eos)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_beams_are_sorted_distinct_and_scored_by_log_probability(layout, lively_model):
    model = lively_model(**LAYOUTS[layout])
    prompt = [3, 1, 4, 1, 5]
    beams = beam_search(model, prompt, beam_size=4, max_new_tokens=6, eos_id=39, length_penalty=0.0)
    assert len(beams) == 4
    scores = [s for _, s in beams]
    assert scores == sorted(scores, reverse=True)
    assert len({tuple(t) for t, _ in beams}) == 4
    with torch.no_grad():  # a beam's score is the log-probability of its tokens, computed the slow way
        for tokens, score in beams:
            seq = torch.tensor([prompt + tokens])
            logp = model(seq)[0].log_softmax(-1)
            total = sum(float(logp[len(prompt) - 1 + i, t]) for i, t in enumerate(tokens))
            assert score == pytest.approx(total, abs=1e-4)
    greedy_tokens = _reference(model, prompt, 6)
    with torch.no_grad():
        logp = model(torch.tensor([prompt + greedy_tokens]))[0].log_softmax(-1)
    greedy_score = sum(float(logp[len(prompt) - 1 + i, t]) for i, t in enumerate(greedy_tokens))
    assert beams[0][1] >= greedy_score - 1e-5  # a wider search never finds worse than greedy here


# --------------------------------------------------------------------------------------------------
# Schema-constrained decoding

_W = "[A-Za-z0-9_\u0080-\U0010ffff]"
# quoted text: values, and names in any quotes SQLite reads (free, as the constraint leaves them), closed or cut
_NOT_NAMES = re.compile(r"'(?:[^']|'')*'?|\"(?:[^\"]|\"\")*\"?|`[^`]*`?|\[[^\]]*\]?")


def _names_outside_schema(sql: str, schema) -> list[str]:
    """Words of ``sql`` that cannot be a name of ``schema`` where they stand (checked independently of the lexer).
    A word before a dot may be an alias that a FROM still to come defines (the output may be cut before it), and
    then the word after the dot may be any name."""
    from t2sql_lib.generate import SQL_FUNCTIONS, SQL_KEYWORDS

    tables = {t.name.lower() for t in schema.tables}
    columns = {c.name.lower() for t in schema.tables for c in t.columns}
    code = _NOT_NAMES.sub(" '' ", sql)
    w, name = _W, rf"(?![0-9]){_W}+"  # SQLite's bare names: ASCII letters, digits, _ and any non-ASCII character
    aliases = {a.lower() for a in re.findall(rf"\bAS\s+({name})", code, flags=re.I)}
    aliases |= {a.lower() for a in re.findall(rf"(?<!{w})(?:FROM|JOIN)\s+{name}\s+({name})", code, flags=re.I)
                if a.lower() not in SQL_KEYWORDS}
    bad = [x for x in re.findall(rf"(?<!{w})(?:FROM|JOIN)\s+({name})", code, flags=re.I) if x.lower() not in tables]
    bad += [c for q, c in re.findall(rf"({name})\.({name})", code)
            if (q.lower() in tables or q.lower() in aliases) and c.lower() not in columns | aliases]
    anything = tables | columns | SQL_KEYWORDS | SQL_FUNCTIONS | aliases
    # a word cut at the end (the budget ran out) may be the start of a name; a word before or after a dot is ruled above
    words = re.findall(rf"(?<![.]|{w})({name})(?!{w}|\s*\.)", code)
    bad += [w for w in words[:-1] if w.lower() not in anything]
    return bad


def test_the_gold_sql_is_always_allowed(splits, tokenizer, vocab):
    """Teacher-forcing the gold SQL of every test question: each of its tokens, and the end, is allowed."""
    for ex in splits["test"][:40] + splits["validation"][:20]:
        constraint = SchemaConstraint(ex.schema, vocab)
        target = tokenizer.encode(build_target(ex.sql))  # " SQL<|endoftext|>"
        for i, token in enumerate(target):
            state = constraint.state_of(vocab.decode(target[:i]))
            assert state is not None
            assert bool(constraint.allowed(state)[token]), (ex.sql, vocab.decode(target[:i]), vocab.texts[token])


def test_every_schema_name_is_allowed_where_a_name_goes(splits, tokenizer, vocab):
    schema = splits["test"][0].schema
    constraint = SchemaConstraint(schema, vocab)
    for prefix, names in ((" SELECT * FROM", [t.name for t in schema.tables]),
                          (" SELECT T1.", [c.name for t in schema.tables for c in t.columns]),
                          (" SELECT", [c.name for t in schema.tables for c in t.columns])):
        for name in names:
            ids = tokenizer.encode(prefix + " " + name if not prefix.endswith(".") else prefix + name)
            start = len(tokenizer.encode(prefix))
            assert tokenizer.decode(ids[:start]) == prefix
            for i in range(start, len(ids)):
                assert bool(constraint.allowed(constraint.state_of(vocab.decode(ids[:i])))[ids[i]]), (prefix, name)


def test_constraint_refuses_names_the_schema_lacks(splits, tokenizer, vocab):
    schema = splits["test"][0].schema
    c = SchemaConstraint(schema, vocab)
    table = schema.tables[0].name
    assert c.advance(SqlState(), f" SELECT * FROM {table}") is not None
    assert c.advance(SqlState(), " SELECT * FROM singer") is None  # not a table of this database
    # T1 is defined after its use: its column is checked once AS T1 binds it, at the character after T1
    assert c.advance(SqlState(), f" SELECT T1.nonexistent FROM {table} AS T1 ") is None
    assert c.advance(SqlState(), f" SELECT * FROM {table} AS x WHERE x.{schema.tables[0].columns[0].name} > 3") \
        is not None  # an alias defined with AS may be used after its definition
    assert c.advance(SqlState(), f" SELECT * FROM {table} WHERE 'singer' = \"any text\" AND 3.5 > 2") is not None
    assert c.advance(SqlState(), " SELECT * FROM ,") is None  # a table must follow FROM
    assert c.advance(SqlState(), " SELECT * FROM 5") is None  # a number is not a table
    assert c.advance(SqlState(), " SELECT T1.5 FROM x") is None  # nor a column
    assert c.advance(SqlState(), f" SELECT count(*)) FROM {table}") is None  # nothing to close
    assert c.advance(SqlState(), f" SELECT T1.* FROM {table} AS T1 WHERE {schema.tables[0].columns[0].name} IN (SELECT") is not None
    column = schema.tables[0].columns[1].name
    # only a function or a keyword opens a parenthesis, and a number never follows a name (the CPU demo wrote
    # "FROM crops(growing_days)" or "FROM crops 101" for 72 of its 500 test questions, then "FROM crops.crop_id")
    assert c.advance(SqlState(), f" SELECT COUNT(*) FROM {table}(") is None
    assert c.advance(SqlState(), f" SELECT COUNT(*) FROM {table} (") is None
    assert c.advance(SqlState(), f" SELECT {column}(") is None
    assert c.advance(SqlState(), f" SELECT T1.{column}(") is None
    assert c.advance(SqlState(), f" SELECT * FROM {table} WHERE {column} = 'x' (") is None
    assert c.advance(SqlState(), f" SELECT COUNT(*) FROM {table} 101") is None
    assert c.advance(SqlState(), f" SELECT * FROM {table} AS T1 101") is None
    assert c.advance(SqlState(), f" SELECT {column} FROM {table}.{column}") is None  # a dot after FROM's table
    assert c.advance(SqlState(), f" SELECT * FROM {table} JOIN {table}.") is None
    assert c.advance(SqlState(), f" SELECT {table}.{column} FROM {table}") is not None  # table.column elsewhere
    assert c.advance(SqlState(), f" SELECT MAX({column}), count (*) FROM {table} WHERE {column} IN (1, 2) "
                                 f"AND EXISTS (SELECT 1) ORDER BY 1 LIMIT 3") is not None
    eos = vocab.eos_id
    assert not bool(c.allowed(c.state_of(f" SELECT * FROM {table} WHERE (1"))[eos])  # a parenthesis is open
    assert not bool(c.allowed(c.state_of(" SELECT * FROM"))[eos])  # a table must follow
    assert bool(c.allowed(c.state_of(f" SELECT * FROM {table}"))[eos])
    assert not bool(c.allowed(c.state_of(f" SELECT * FROM {table} WHERE {schema.tables[0].columns[1].name} = 'op"))[eos])  # inside a quote


def test_constrained_random_model_never_writes_a_name_outside_the_schema(splits, tokenizer, vocab):
    """A random model writes anything; under the constraint every name it writes is in the prompt's schema."""
    torch.manual_seed(0)
    model = GPTModel(GPTConfig(vocab_size=tokenizer.n_vocab, context_length=512, emb_dim=32, n_heads=2, n_layers=2,
                               drop_rate=0.0)).eval()
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() >= 2:
                p.normal_(0.0, 0.2)
    examples = splits["test"][:5] + splits["validation"][:5]
    prompts = [tokenizer.encode(build_prompt(e.schema, e.question)) for e in examples]
    free = generate(model, prompts, max_new_tokens=40, eos_id=vocab.eos_id)
    free_sql = [vocab.decode(ids) for ids in free]
    assert sum(bool(_names_outside_schema(s, e.schema)) for s, e in zip(free_sql, examples)) >= 5  # unconstrained
    constraints = [SchemaConstraint(e.schema, vocab) for e in examples]
    out = generate(model, prompts, max_new_tokens=40, eos_id=vocab.eos_id, processors=constraints)
    for ids, ex, c in zip(out, examples, constraints):
        sql = vocab.decode(ids)
        assert c.state_of(sql) is not None, sql
        assert _names_outside_schema(sql, ex.schema) == [], sql
    beams = beam_search(model, prompts[0], beam_size=3, max_new_tokens=30, eos_id=vocab.eos_id,
                        processor=constraints[0])
    for ids, _ in beams:
        assert _names_outside_schema(vocab.decode(ids), examples[0].schema) == []


# --------------------------------------------------------------------------------------------------
# Execution-guided decoding


@pytest.fixture()
def tiny_db(tmp_path):
    path = tmp_path / "shop.sqlite"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE item (id integer primary key, name text, price real)")
    con.executemany("INSERT INTO item VALUES (?, ?, ?)", [(1, "pen", 1.5), (2, "book", 12.0)])
    con.commit()
    con.close()
    return path


def test_execution_guided_picks_the_first_candidate_with_rows(tiny_db):
    candidates = ["SELEC name FROM item",  # does not parse
                  "SELECT title FROM item",  # no such column
                  "SELECT name FROM item WHERE price > 100",  # runs, no rows
                  "SELECT name FROM item WHERE price > 10",  # the first with rows
                  "SELECT name FROM item"]
    index, result = pick_executable(candidates, tiny_db)
    assert index == 3 and result.ok and result.rows == [("book",)]
    index, result = pick_executable(candidates[:3], tiny_db)
    assert index == 0 and not result.ok  # none returns rows: the top beam
    assert pick_executable(["DELETE FROM item", "SELECT 1"], tiny_db)[0] == 1  # writes are refused, not run
    con = sqlite3.connect(tiny_db)
    assert con.execute("SELECT count(*) FROM item").fetchone() == (2,)
    con.close()
    with pytest.raises(ValueError, match="no candidate"):
        pick_executable([], tiny_db)


def test_decode_sql_settings_run_end_to_end(splits, tokenizer, lively_model):
    model = lively_model(vocab=tokenizer.n_vocab, context=512)
    examples = splits["test"][:3]
    greedy = decode_sql(model, tokenizer, examples, DecodingSettings("greedy", max_new_tokens=10))
    assert len(greedy) == 3 and all(isinstance(s, str) for s in greedy)
    from t2sql_lib.sft import predict_sql

    assert greedy == predict_sql(model, tokenizer, examples, max_new_tokens=10).sql  # one decoder, two entry points
    for name in ("constrained", "beam", "execution_guided", "constrained_execution_guided"):
        s = DECODERS[name]
        out = decode_sql(model, tokenizer, examples, DecodingSettings(name, s.beam_size, s.schema_constrained,
                                                                      s.execution_guided, max_new_tokens=8))
        assert len(out) == 3 and all(isinstance(sql, str) for sql in out)
        if s.schema_constrained:
            assert all(_names_outside_schema(sql, e.schema) == [] for sql, e in zip(out, examples))


def test_constraint_reads_aliases_bound_in_this_select(splits, vocab):
    """Once FROM x AS T1 has bound T1, T1.<column> must be a column of x; before the FROM (Spider writes
    SELECT T1.name FROM ... AS T1) and in the next SELECT it may be any column again. The CPU demo's model wrote
    "rooms AS T1 JOIN hotels AS T2 ON T1.guest_id = T2.guest_id" (no such column: T1.guest_id)."""
    schema = next(e.schema for e in splits["test"] if len(e.schema.tables) >= 2)
    c = SchemaConstraint(schema, vocab)
    a, b = schema.tables[0], schema.tables[1]
    a_cols = {col.name.lower() for col in a.columns}
    only_b = next(col.name for col in b.columns if col.name.lower() not in a_cols)
    in_a = a.columns[0].name
    join = f" SELECT * FROM {a.name} AS T1 JOIN {b.name} AS T2 WHERE"  # ON's own rule is the next test's
    assert c.advance(SqlState(), f"{join} T1.{in_a} = T2.{only_b}") is not None
    assert c.advance(SqlState(), f"{join} T1.{only_b}") is None  # T1 is {a.name}, which lacks it
    assert c.advance(SqlState(), f"{join} T2.{only_b} = 1 AND {a.name}.{only_b}") is None  # a table name qualifies too
    assert c.advance(SqlState(), f" SELECT T1.{only_b} FROM {a.name} AS T1") is not None  # not bound yet
    state = c.advance(SqlState(), f"{join} T2.{only_b} = 1 INTERSECT SELECT T1.{only_b} FROM {b.name} AS T1 WHERE T1.")
    assert state is not None and state.qualifier == b.name.lower()  # the second SELECT bound T1 anew
    assert {alias: table for alias, table, _ in state.bound} == {"t1": b.name.lower()}
    # a function never follows a name: "weight_g integer" is a column type copied from the schema's text
    assert c.advance(SqlState(), f" SELECT MIN({in_a} integer") is None
    assert c.advance(SqlState(), f" SELECT * FROM {a.name} count(") is None
    assert c.advance(SqlState(), f" SELECT CAST({in_a} AS integer), count(*) FROM {a.name}") is not None
    # after a number's point only its digits: "> 152.order_id" is a name copied into a number
    assert c.advance(SqlState(), f" SELECT * FROM {a.name} WHERE {in_a} > 152.{in_a}") is None
    assert c.advance(SqlState(), f" SELECT * FROM {a.name} WHERE {in_a} > 152.6 AND {in_a} < 3") is not None


def test_constraint_joins_on_declared_keys(vocab):
    """In ON A.x = B.y a column at an end of a declared foreign key meets its other end or a column of its own name
    in another table of the SELECT; a column in no key joins anything. The CPU demo's model wrote "rooms AS T1 JOIN
    hotels AS T2 ON T1.room_id = T2.hotel_id" in 60 of its 186 wrong test answers."""
    from t2sql_lib.schema import Column, ForeignKey, Schema, Table

    schema = Schema("lodging", (
        Table("hotels", (Column("hotel_id", "integer"), Column("name"), Column("manager_id", "integer"))),
        Table("rooms", (Column("room_id", "integer"), Column("hotel_id", "integer"), Column("kind"))),
        Table("staff", (Column("staff_id", "integer"), Column("name"))),
        Table("bookings", (Column("booking_id", "integer"), Column("room_id", "integer")))),
        foreign_keys=(ForeignKey("rooms", "hotel_id", "hotels", "hotel_id"),
                      ForeignKey("hotels", "manager_id", "staff", "staff_id"),
                      ForeignKey("bookings", "room_id", "rooms", "room_id")))
    c = SchemaConstraint(schema, vocab, join_keys=True)  # off by default: Spider's gold joins on undeclared keys
    assert SchemaConstraint(schema, vocab).advance(SqlState(), " SELECT * FROM rooms AS T1 JOIN hotels AS T2 ON "
                                                               "T1.room_id = T2.hotel_id") is not None

    def ok(sql: str) -> bool:
        state = c.advance(SqlState(), " " + sql)
        return state is not None and c.may_end(state)

    rooms_hotels = "SELECT * FROM rooms AS T1 JOIN hotels AS T2 ON"
    assert ok(f"{rooms_hotels} T1.hotel_id = T2.hotel_id")
    assert not ok(f"{rooms_hotels} T1.room_id = T2.hotel_id")  # rooms.room_id meets bookings.room_id only
    assert c.advance(SqlState(), f" {rooms_hotels} T1.room_id") is None  # refused as soon as it is written
    assert not ok(f"{rooms_hotels} T1.hotel_id = T2.manager_id")  # a key, but not this one's other end
    assert ok(f"{rooms_hotels} T1.kind = T2.manager_id")  # kind is in no key: anything goes
    hotels_staff = "SELECT T2.name FROM hotels AS T1 JOIN staff AS T2 ON"
    assert ok(f"{hotels_staff} T1.manager_id = T2.staff_id") and ok(f"{hotels_staff} T2.staff_id = T1.manager_id")
    assert ok("SELECT * FROM rooms JOIN hotels ON rooms.hotel_id = hotels.hotel_id")  # table names qualify too
    assert not ok("SELECT * FROM rooms JOIN hotels ON rooms.hotel_id = hotels.manager_id")
    # a self-join meets a column of its own table; after ON's pair the rule is over
    assert ok("SELECT * FROM hotels AS T1 JOIN hotels AS T2 ON T1.hotel_id = T2.hotel_id")
    assert ok(f"{rooms_hotels} T1.hotel_id = T2.hotel_id WHERE T1.room_id = T2.hotel_id")
    state = c.advance(SqlState(), f" {rooms_hotels} T1.hotel_id = T2.")
    assert (state.on, state.join_key, state.qualifier) == ("right", "rooms.hotel_id", "hotels")
    assert c.advance(state, "hotel_id").on == "right" and c.advance(state, "hotel_id ").on == ""


def test_spider_gold_sql_passes_the_constraint(spider):
    """The constraint is not too strict for real SQL: every gold query of Spider's dev set is allowed on its schema."""
    from t2sql_lib.spider import load_spider

    dev = load_spider(spider, "dev")
    vocab = TokenVocab(texts=[], eos_id=0, decode=lambda ids: "")  # string-level checks need no tokens
    constraints = {}
    refused = []
    for ex in dev:
        c = constraints.setdefault(ex.db_id, SchemaConstraint(ex.schema, vocab))
        state = c.advance(SqlState(), " " + ex.sql)
        if state is None or not c.may_end(state):
            refused.append(ex.sql)
    assert len(dev) > 500 and refused == []
    assert SchemaConstraint(dev[0].schema, vocab).advance(SqlState(), " SELECT * FROM no_such_table") is None


# ----------------------------------------------------------------------------------------------------
# Values copied from the question (ValueConstraint)
# ----------------------------------------------------------------------------------------------------

def _quoted_values_and_numbers(sql: str) -> tuple[list[str], list[str]]:
    """The values inside '...' and the numbers outside them, found independently of the constraint's scanner."""
    values = [v.replace("''", "'") for v in re.findall(r"'((?:[^']|'')*)'", sql)]
    code = re.sub(r"'(?:[^']|'')*'", " ", sql)
    numbers = re.findall(r"(?<![A-Za-z0-9_.])\d+(?:\.\d+)?(?![A-Za-z0-9_])", code)
    return values, numbers


def test_question_values_reads_numbers_dates_and_number_words():
    from t2sql_lib.generate import question_values

    texts, numbers = question_values("Flights after 3 March 2021 or before June 7, 2020 with  over two  stops and 12.5 kg")
    assert texts[0] == "flights after 3 march 2021 or before june 7, 2020 with over two stops and 12.5 kg"
    assert set(texts[1:]) == {"2021-03-03", "2020-06-07"}
    assert numbers == {"3", "2021", "7", "2020", "12.5", "2", "0", "1"}
    assert question_values("How many singers?")[1] == {"0", "1"}


def test_value_constraint_reads_no_number_after_a_point_and_a_space(tokenizer, splits):
    # a model wrote "... > 78.2. ": the lexer is after a point, and no number ends the text
    from t2sql_lib.generate import ValueConstraint

    vocab = TokenVocab.from_tokenizer(tokenizer)
    ex = splits["test"][0]
    vc = ValueConstraint(SchemaConstraint(ex.schema, vocab), "Which ones are over 78.2?")
    written = f"SELECT * FROM {ex.schema.tables[0].name} WHERE 1 > 78.2. "
    logits = vc(tokenizer.encode(written, allowed_special="all"), torch.zeros(len(vocab.texts)))
    assert logits.shape == (len(vocab.texts),)
    assert isinstance(vc.allows_next(written, vocab.eos_id), bool)


def test_value_constraint_accepts_values_from_the_question_only(tokenizer, splits):
    from t2sql_lib.generate import ValueConstraint

    vocab = TokenVocab.from_tokenizer(tokenizer)
    ex = splits["test"][0]
    vc = ValueConstraint(SchemaConstraint(ex.schema, vocab), "Names that start with Zar, over 360, since 2 May 2020?")
    for value in ("Zar%", "zar", "%Zar%", "%Y", "%Y-%m", "2020-05-02", "over 360"):
        assert vc.value_ok(value, closed=True), value
    for value in ("Zab", "Zq%", "", "%", "%%", "2020-05-03", "Zar%x"):
        assert not vc.value_ok(value, closed=True), value
    assert vc.value_ok("Za", closed=False) and not vc.value_ok("Zx", closed=False)
    # a value begins where a word of the question begins and ends where it ends (or before an "s", "ing"...): the
    # CPU demo's model closed 'so' out of "season" and 'ping' out of "shipping"
    for value in ("tart", "ar", "Za", "sta", "ver 360"):
        assert not vc.value_ok(value, closed=True), value
    assert vc.value_ok("sta", closed=False) and not vc.value_ok("tart", closed=False)
    plural = ValueConstraint(SchemaConstraint(ex.schema, vocab), "Students who own dogs and ‘Smith’ cats?")
    assert plural.value_ok("dog", closed=True) and plural.value_ok("Smith", closed=True)
    assert not plural.value_ok("do", closed=True)
    dates = ValueConstraint(SchemaConstraint(ex.schema, vocab), "Born between 1980-08-09 and 1988-10-20, not like Wre?")
    assert dates.value_ok("1988-10-20", closed=True) and not dates.value_ok("1988-10", closed=True)
    assert dates.value_ok("Wre%", closed=False) and not dates.value_ok("W%", closed=False)  # only ' may follow a %
    assert vc.text_ok("code", "", "", " WHERE x > 360 AND y LIKE 'Zar%' LIMIT 1 ")
    assert not vc.text_ok("code", "", "", " WHERE x > 306 ")  # a number the question does not have
    assert not vc.text_ok("code", "", "", " WHERE x > 36 ")  # the start of one, ended too soon
    assert not vc.text_ok("code", "", "", " WHERE name = 'Q'")
    assert vc.text_ok("code", "", "", " SELECT T1.address2 FROM t AS T1 ")  # digits inside names are names
    # the mask inside a quote: every allowed token keeps the value a piece of the question
    table, column = ex.schema.tables[0].name, ex.schema.tables[0].columns[0].name
    state = vc.inner.state_of(f" SELECT {column} FROM {table} WHERE {column} LIKE 'Z")
    mask = vc.allowed(state, "Z")
    assert 0 < int(mask.sum()) < int(vc.inner.allowed(state).sum())
    for i in mask.nonzero().flatten().tolist():
        text = vocab.texts[i]
        inside = ("Z" + text).split("'")[0]
        assert vc.value_ok(inside, closed="'" in text) or vc.value_ok(inside, closed=False), text
    # at a number: the end of the query only once the number is whole
    state = vc.inner.state_of(f" SELECT {column} FROM {table} WHERE {column} > 36")
    assert not bool(vc.allowed(state, "")[vocab.eos_id])
    state = vc.inner.state_of(f" SELECT {column} FROM {table} WHERE {column} > 360")
    assert bool(vc.allowed(state, "")[vocab.eos_id])


def test_quote_prefilter_changes_no_mask(splits, tokenizer):
    """``quote_tokens`` only skips work: inside every quote of the test split's gold SQL (and of some values the
    question cannot give), the mask is the one found by checking every token character by character."""
    from t2sql_lib.generate import ValueConstraint

    vocab = TokenVocab.from_tokenizer(tokenizer)
    checked = 0
    for ex in [e for e in splits["test"] if "'" in e.sql][:12]:
        fast = ValueConstraint(SchemaConstraint(ex.schema, vocab), ex.question)
        slow = ValueConstraint(fast.inner, ex.question)
        slow._quote_tokens = torch.ones(len(vocab.texts), dtype=torch.bool)  # every token checked in full
        slow._percent_tokens = slow._quote_tokens
        assert bool((fast.quote_tokens <= fast.percent_tokens).all()) and not bool(fast.percent_tokens.all())
        quote = ex.sql.index("'")
        for written in [ex.sql[:i] for i in range(quote + 1, len(ex.sql)) if ex.sql[:i].count("'") % 2 == 1] + [
                ex.sql[:quote + 1] + "zq", ex.sql[:quote + 1] + "%", ex.sql[:quote + 1] + "%Y-"]:
            state = fast.inner.state_of(" " + written)
            value = written[written.rfind("'") + 1:]
            assert torch.equal(fast.allowed(state, value), slow.allowed(state, value)), written
            checked += 1
    assert checked > 20


def test_strftime_start_is_every_start_of_a_format_and_no_more():
    """``_STRFTIME_START`` matches exactly the starts of ``STRFTIME_FORMAT``'s matches: every string of up to six
    characters over letters, separators and ``%``, against whether some ending makes it a whole format."""
    import itertools

    from t2sql_lib.generate import _STRFTIME_START, STRFTIME_FORMAT

    for n in range(1, 7):
        for chars in itertools.product("Ym-%", repeat=n):
            text = "".join(chars)
            completes = any(STRFTIME_FORMAT.fullmatch(text + end) for end in ("", "d", "%d"))
            assert bool(_STRFTIME_START.fullmatch(text)) == completes, text


def test_gold_queries_pass_the_value_constraint(splits, spider):
    """The rule is not too strict: every generated gold query, and nearly all of Spider dev's, is allowed."""
    from t2sql_lib.generate import ValueConstraint
    from t2sql_lib.spider import load_spider

    vocab = TokenVocab(texts=[], eos_id=0, decode=lambda ids: "")

    def refused(examples):
        return [e for e in examples
                if not ValueConstraint(SchemaConstraint(e.schema, vocab), e.question).text_ok("code", "", "", f" {e.sql} ")]

    generated = [e for split in splits.values() for e in split]
    assert len(generated) > 100 and refused(generated) == []
    dev = load_spider(spider, "dev")
    bad = refused(dev)
    # 11 of 972: paraphrased values ('usa' for "United States") and one-letter codes ('F' for "female", 'T' for
    # "official"), which a value must now begin and end with the question's word to be
    assert len(bad) <= 0.012 * len(dev)


def test_decoding_with_values_keeps_names_and_values_legal(splits, tokenizer, lively_model):
    from t2sql_lib.generate import question_values

    model = lively_model(vocab=tokenizer.n_vocab, context=512)
    examples = splits["test"][:4]
    for name in ("constrained_values", "constrained_values_execution_guided"):
        s = DECODERS[name]
        out = decode_sql(model, tokenizer, examples, DecodingSettings(
            name, s.beam_size, s.schema_constrained, s.execution_guided, max_new_tokens=24, values_from_question=True))
        for sql, e in zip(out, examples):
            assert _names_outside_schema(sql, e.schema) == []
            texts, numbers = question_values(e.question)
            values, nums = _quoted_values_and_numbers(sql)
            assert all(v.strip("%").lower() in texts[0] or v in texts[1:] or v.startswith("%") for v in values), sql
            assert all(n in numbers for n in nums), (sql, numbers)
    with pytest.raises(ValueError, match="needs schema_constrained"):
        DecodingSettings("values alone", values_from_question=True)
