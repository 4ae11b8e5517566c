"""Supervised fine-tuning data (masking, padding, truncation), cached batched decoding, and scoring by execution."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from t2sql_lib.evaluate import execution_match
from t2sql_lib.model import GPTConfig, GPTModel, generate_greedy
from t2sql_lib.prompts import build_example_text, build_prompt, build_target
from t2sql_lib.sft import (
    IGNORE_INDEX,
    SFTCollator,
    SFTDataset,
    SharedSchemaCollator,
    SharedSchemaLM,
    encode_prompt,
    evaluate_model,
    execution_eval_fn,
    greedy_generate,
    predict_sql,
    sft_collator,
    special_id,
)
from t2sql_lib.special_tokens import ENDOFTEXT, PAD
from t2sql_lib.tokenizer import gpt2_with_special_tokens
from t2sql_lib.train import lm_loss_sum


def test_masked_targets_are_exactly_the_sql_and_endoftext(splits, tokenizer):
    examples = splits["train"][:20]
    ds = SFTDataset(examples, tokenizer, max_length=1024)
    assert len(ds) == 20 and ds.stats.kept == 20 and ds.stats.dropped == ds.stats.truncated == 0
    eot = special_id(tokenizer, ENDOFTEXT)
    for i, ex in enumerate(examples):
        x, y = ds[i]
        full = tokenizer.encode(build_example_text(ex))
        assert x.tolist() == full[:-1]  # inputs: the whole sequence but its last token
        scored = y[y != IGNORE_INDEX].tolist()
        assert tokenizer.decode(scored) == build_target(ex.sql)  # " SQL<|endoftext|>", nothing of the prompt
        assert scored[-1] == eot
        first = int((y != IGNORE_INDEX).nonzero()[0])
        n_prompt = len(tokenizer.encode(build_prompt(ex.schema, ex.question)))
        assert first == n_prompt - 1  # the first SQL token is predicted at <|sql|>, the prompt's last token
        assert (y[first:] != IGNORE_INDEX).all()  # one scored block, to the end
    assert ds.n_scored_tokens() == sum(int((ds[i][1] != IGNORE_INDEX).sum()) for i in range(len(ds)))


def test_unmasked_dataset_scores_every_token(splits, tokenizer):
    ds = SFTDataset(splits["train"][:5], tokenizer, max_length=1024, mask_prompt=False)
    for i in range(len(ds)):
        x, y = ds[i]
        assert (y != IGNORE_INDEX).all()
        assert y[:-1].tolist() == x[1:].tolist()  # targets are the inputs shifted by one
    masked = SFTDataset(splits["train"][:5], tokenizer, max_length=1024)
    assert ds.n_scored_tokens() > 3 * masked.n_scored_tokens()  # the prompt is most of the sequence


def test_getitem_does_not_modify_the_stored_sequence(splits, tokenizer):
    ds = SFTDataset(splits["train"][:1], tokenizer, max_length=1024)
    before = ds.sequences[0].clone()
    ds[0], ds[0]
    assert torch.equal(ds.sequences[0], before)


def test_collator_pads_on_the_right(splits, tokenizer):
    ds = SFTDataset(splits["train"][:6], tokenizer, max_length=1024)
    batch = [ds[i] for i in range(6)]
    pad = special_id(tokenizer, PAD)
    x, y = sft_collator(tokenizer)(batch)
    longest = max(len(b[0]) for b in batch)
    assert x.shape == y.shape == (6, longest)
    for row, (xi, yi) in enumerate(batch):
        n = len(xi)
        assert x[row, :n].tolist() == xi.tolist() and y[row, :n].tolist() == yi.tolist()
        assert (x[row, n:] == pad).all() and (y[row, n:] == IGNORE_INDEX).all()
    x8, _ = SFTCollator(pad, pad_to_multiple_of=8)(batch)
    assert x8.shape[1] % 8 == 0 and x8.shape[1] >= longest


def test_collator_rejects_bad_batches():
    collate = SFTCollator(pad_id=0, max_length=4)
    with pytest.raises(ValueError, match="empty"):
        collate([])
    with pytest.raises(ValueError, match="2 inputs but 3 targets"):
        collate([(torch.tensor([1, 2]), torch.tensor([1, 2, 3]))])
    with pytest.raises(ValueError, match="longer than max_length=4"):
        collate([(torch.arange(5), torch.arange(5))])


def test_padding_does_not_change_the_loss(splits, tokenizer):
    """A padded batch gives each example the loss it has alone: pads neither are scored nor seen."""
    torch.manual_seed(0)
    model = GPTModel(GPTConfig(vocab_size=tokenizer.n_vocab, context_length=512, emb_dim=32, n_heads=2,
                               n_layers=2, drop_rate=0.0)).eval()
    ds = SFTDataset(splits["train"][:4], tokenizer, max_length=512)
    collate = sft_collator(tokenizer)
    with torch.no_grad():
        x, y = collate([ds[i] for i in range(4)])
        batch_loss = float(lm_loss_sum(model(x), y))
        alone = sum(float(lm_loss_sum(model(xi[None]), yi[None])) for xi, yi in (ds[i] for i in range(4)))
    assert batch_loss == pytest.approx(alone, rel=1e-5)


def test_too_long_examples_are_counted_never_silent(splits, tokenizer):
    examples = splits["train"][:30]
    lengths = [len(tokenizer.encode(build_example_text(e))) - 1 for e in examples]
    limit = sorted(lengths)[len(lengths) // 2]  # about half are too long
    n_long = sum(n > limit for n in lengths)
    assert 0 < n_long < len(examples)

    with pytest.warns(UserWarning, match=f"{n_long} dropped"):
        dropped = SFTDataset(examples, tokenizer, max_length=limit, too_long="drop")
    assert (dropped.stats.kept, dropped.stats.dropped, dropped.stats.truncated) == (len(examples) - n_long, n_long, 0)
    assert dropped.stats.max_length <= limit
    assert all(len(dropped[i][0]) <= limit for i in range(len(dropped)))

    with pytest.warns(UserWarning, match=f"{n_long} truncated"):
        cut = SFTDataset(examples, tokenizer, max_length=limit, too_long="truncate_prompt")
    assert (cut.stats.kept, cut.stats.truncated, cut.stats.dropped) == (len(examples), n_long, 0)
    for i, ex in enumerate(cut.examples):
        x, y = cut[i]
        assert len(x) <= limit
        text = tokenizer.decode(cut.sequences[i].tolist())
        # the front of the schema goes; the question and the whole SQL stay
        assert text.endswith(f"{ex.question} <|sql|>{build_target(ex.sql)}")
        assert tokenizer.decode(y[y != IGNORE_INDEX].tolist()) == build_target(ex.sql)

    with pytest.raises(ValueError, match=f"{n_long} of {len(examples)} examples are longer"):
        SFTDataset(examples, tokenizer, max_length=limit, too_long="error")
    with pytest.raises(ValueError, match="too_long="):
        SFTDataset(examples, tokenizer, max_length=limit, too_long="ignore")


def test_truncation_drops_an_example_whose_sql_alone_does_not_fit(splits, tokenizer):
    ex = splits["train"][0]
    n_target = len(tokenizer.encode(build_target(ex.sql)))
    with pytest.raises(ValueError, match="no example fits"), pytest.warns(UserWarning, match="1 dropped"):
        SFTDataset([ex], tokenizer, max_length=n_target - 2, too_long="truncate_prompt")


def test_special_token_text_in_a_question_is_refused(splits, tokenizer):
    ex = splits["train"][0]
    bad = type(ex)(ex.question + " <|sql|> DROP", ex.sql, ex.db_id, ex.db_path, ex.schema)
    with pytest.raises(ValueError, match="special token '<\\|sql\\|>'"):
        SFTDataset([bad], tokenizer, max_length=1024)


def test_works_with_gpt2_encoding(splits, gpt2_encoding):
    enc = gpt2_with_special_tokens()
    ds = SFTDataset(splits["train"][:3], enc, max_length=1024)
    x, y = ds[0]
    assert enc.decode(y[y != IGNORE_INDEX].tolist()) == build_target(splits["train"][0].sql)
    assert special_id(enc, PAD) != special_id(enc, ENDOFTEXT)
    with pytest.raises(ValueError, match="no special token"):
        special_id(gpt2_encoding, PAD)  # plain GPT-2 lacks the course's tokens


def _reference(model, prompt, max_new, eos, context):
    out = generate_greedy(model, torch.tensor([prompt]), min(max_new, context - len(prompt)), eos_id=eos)
    row = out[0, len(prompt):].tolist()
    return row[: row.index(eos)] if eos in row else row


@pytest.mark.parametrize("batch_size", [1, 3, 16])
def test_cached_batched_decoding_equals_generate_greedy(batch_size, lively_model):
    model = lively_model()
    g = torch.Generator().manual_seed(1)
    prompts = [torch.randint(0, 40, (n,), generator=g).tolist() for n in (1, 5, 12, 3, 30, 7, 12, 44)]
    eos = _reference(model, prompts[1], 15, None, 48)[4]  # a token the model does emit, as <|endoftext|>
    got = greedy_generate(model, prompts, max_new_tokens=15, eos_id=eos, batch_size=batch_size)
    want = [_reference(model, p, 15, eos, 48) for p in prompts]
    assert got == want
    assert len({tuple(w) for w in want}) > 4 and any(len(set(w)) > 3 for w in want)  # outputs really vary
    assert any(len(w) < 15 for w in want[:-1])  # some stop at <|endoftext|>, which is left out
    assert len(got[-1]) <= 48 - 44  # the 44-token prompt stops at the end of the context


def test_decoding_without_a_kv_cache_layout_falls_back(splits, lively_model):
    class Wrapped(nn.Module):  # no tok_emb/blocks attributes: decoded one prompt at a time
        def __init__(self, inner):
            super().__init__()
            self.inner, self.cfg = inner, inner.cfg

        def forward(self, idx):
            return self.inner(idx)

    model = lively_model()
    prompts = [[1, 2, 3], [4, 5, 6, 7, 8]]
    assert greedy_generate(Wrapped(model), prompts, max_new_tokens=6, eos_id=3) == \
        greedy_generate(model, prompts, max_new_tokens=6, eos_id=3)


def test_decoding_rejects_prompts_that_fill_the_context(lively_model):
    model = lively_model(context=16)
    with pytest.raises(ValueError, match="1 prompts leave no room"):
        greedy_generate(model, [[1, 2], list(range(16))], max_new_tokens=4, eos_id=3)
    with pytest.raises(ValueError, match="empty prompt"):
        greedy_generate(model, [[]], max_new_tokens=4, eos_id=3)


class ScriptedModel(nn.Module):
    """A stand-in for a trained GPT: after a prompt it knows, it writes that prompt's scripted answer.

    Looks like no chapter-3 model (no ``blocks``), so decoding goes through ``generate_greedy``.
    """

    def __init__(self, tokenizer, answers: dict[tuple[int, ...], str], context_length: int = 1024):
        super().__init__()
        self.cfg = GPTConfig(vocab_size=tokenizer.n_vocab, context_length=context_length, emb_dim=8, n_heads=1,
                             n_layers=1)
        self.weight = nn.Parameter(torch.zeros(1))
        self.vocab = tokenizer.n_vocab
        self.scripts = {p: tokenizer.encode(build_target(sql)) for p, sql in answers.items()}

    def forward(self, idx):
        logits = torch.zeros(idx.shape[0], idx.shape[1], self.vocab)
        for row in range(idx.shape[0]):
            seq = idx[row].tolist()
            for prompt, answer in self.scripts.items():
                if tuple(seq[: len(prompt)]) == prompt:
                    k = len(seq) - len(prompt)
                    logits[row, -1, answer[min(k, len(answer) - 1)]] = 1.0
        return logits


def test_predictions_are_executed_and_scored(splits, tokenizer):
    examples = splits["test"][:4]
    prompts = [tuple(tokenizer.encode(build_prompt(e.schema, e.question))) for e in examples]
    # two gold answers, one answer that runs but returns other rows, one that does not parse
    answers = [examples[0].sql, examples[1].sql, "SELECT 12345", "SELEC nonsense FROM"]
    model = ScriptedModel(tokenizer, dict(zip(prompts, answers)))
    preds = predict_sql(model, tokenizer, examples, max_new_tokens=200)
    assert preds.sql == [" ".join(a.split()) for a in answers] and preds.n_prompts_truncated == 0
    report = evaluate_model(model, tokenizer, examples, max_new_tokens=200)
    recs = report.records
    assert [r["execution_accuracy"] for r in recs] == [True, True, False, False]
    assert [r["valid_sql"] for r in recs] == [True, True, True, False]
    assert [r["exact_match"] for r in recs] == [True, True, False, False]
    assert report.summary()["all"]["execution_accuracy"] == 0.5
    for ex, r in zip(examples, recs):  # the same verdict as executing the two queries directly
        assert r["execution_accuracy"] == execution_match(ex.db_path, r["prediction"], ex.sql)
    metrics = execution_eval_fn(tokenizer, examples, prefix="val", max_new_tokens=200)(model)
    assert metrics == {"val_execution_accuracy": 0.5, "val_exact_match": 0.5, "val_valid_sql": 0.75}


def test_long_prompts_are_cut_and_counted(splits, tokenizer, lively_model):
    ex = splits["test"][0]
    prompt = tokenizer.encode(build_prompt(ex.schema, ex.question))
    model = lively_model(vocab=tokenizer.n_vocab, context=len(prompt) - 5)
    with pytest.warns(UserWarning, match="1 of 1 prompts were longer"):
        preds = predict_sql(model, tokenizer, [ex], max_new_tokens=8)
    assert preds.n_prompts_truncated == 1 and len(preds.sql) == 1


def _identifiers(sql: str) -> set[str]:
    """Table and column names a query uses (aliases like T1 left out)."""
    from sqlglot import exp

    from t2sql_lib.sql import parse_sql

    tree = parse_sql(sql)
    names = {t.name.lower() for t in tree.find_all(exp.Table)}
    return names | {c.name.lower() for c in tree.find_all(exp.Column)}


def test_renaming_is_consistent_across_schema_question_and_sql(splits):
    import random
    import re

    from t2sql_lib.sft import rename_schema_words

    rng = random.Random(0)
    n_renamed = 0
    for ex in splits["train"][:60]:
        new = rename_schema_words(ex, rng, word_prob=1.0)
        mapping = new.meta["renamed"]
        assert mapping, "every schema has words to rename"
        n_renamed += 1
        names = {c.name.lower() for t in new.schema.tables for c in t.columns} | \
            {t.name.lower() for t in new.schema.tables}
        assert _identifiers(new.sql) <= names  # the SQL names only what the renamed schema has
        assert new.sql.split()[0] == "SELECT"  # keywords untouched
        for old in mapping:
            assert not re.search(rf"(?<![A-Za-z]){old}(?![A-Za-z])", new.sql), (old, new.sql)
            assert not re.search(rf"(?<![A-Za-z]){old}(?![A-Za-z])", new.question), old
            assert not any(re.search(rf"(?<![A-Za-z]){old}(?![A-Za-z])", n) for n in names), old  # types stay
        assert all(c.name.endswith("_id") for t in new.schema.tables for c in t.columns if c.name.endswith("id"))
        assert ex.sql != new.sql or ex.question != new.question
        # the original example is untouched
        assert "renamed" not in ex.meta
    assert n_renamed == 60


def test_renaming_maps_singular_and_plural_to_one_stem(splits):
    import random

    from t2sql_lib.sft import rename_schema_words

    ex = next(e for e in splits["train"] if "dishes" in e.schema.table_names)
    new = rename_schema_words(ex, random.Random(1), word_prob=1.0)
    m = new.meta["renamed"]
    assert m["dishes"] == m["dish"] + "s"


def test_augmentation_rate_and_determinism(splits):
    from t2sql_lib.sft import augment_with_renaming

    train = splits["train"][:50]
    assert augment_with_renaming(train, 0.0) == train
    a, b = augment_with_renaming(train, 0.5, seed=3), augment_with_renaming(train, 0.5, seed=3)
    assert [e.sql for e in a] == [e.sql for e in b]
    n = sum(x is not y for x, y in zip(a, train))
    assert 10 < n < 40
    assert all(x is not y for x, y in zip(augment_with_renaming(train, 1.0, word_prob=1.0), train))
    with pytest.raises(ValueError, match="rate=1.5"):
        augment_with_renaming(train, 1.5)


def test_length_grouped_batches_cover_each_example_once_with_less_padding(splits, tokenizer):
    from t2sql_lib.sft import LengthGroupedBatches

    ds = SFTDataset(splits["train"], tokenizer, max_length=1024)
    grouped = LengthGroupedBatches(ds, batch_size=8, seed=0, megabatch=10)
    assert len(grouped) == len(ds) // 8
    seen = [j for b in grouped.batches for j in b]
    assert len(seen) == len(set(seen)) == len(grouped) * 8  # no example twice; only the short tail is left out
    random_batches = LengthGroupedBatches(ds, batch_size=8, seed=0, megabatch=1)  # sorted within a batch only
    assert grouped.padding_fraction() < random_batches.padding_fraction()
    assert grouped.batches != LengthGroupedBatches(ds, batch_size=8, seed=1, megabatch=10).batches
    # one grouped item is a whole batch; the collator flattens it into the same tensors as its pairs
    x, y = sft_collator(tokenizer)([grouped[0]])
    x2, y2 = sft_collator(tokenizer)(grouped[0])
    assert x.shape[0] == 8 and torch.equal(x, x2) and torch.equal(y, y2)
    with pytest.raises(ValueError, match="cannot fill one batch"):
        LengthGroupedBatches(ds, batch_size=len(ds) + 1)


# ----------------------------------------------------------------------------------------------------
# Several questions after one schema: the schema read once, each question sees it and itself only
# ----------------------------------------------------------------------------------------------------

def _shared(examples, tokenizer, **kw):
    from t2sql_lib.sft import SharedSchemaBatches

    return SharedSchemaBatches(examples, tokenizer, **{"max_length": 2048, "batch_size": 8,
                                                       "questions_per_schema": 4, "seed": 3, **kw})


def test_shared_schema_batches_hold_every_question_once_per_view_one_schema_per_group(splits, tokenizer):
    from t2sql_lib.prompts import serialize_schema

    examples = splits["train"][:120]
    ds = _shared(examples, tokenizer, views=2, batch_size=4, questions_per_schema=2)
    # every question twice (two views), but for the short last batch of each view
    seen = [e.question for batch in ds.examples for e in batch]
    assert ds.stats.kept == len(seen) and len(seen) > 2 * len(examples) - 2 * 4
    assert set(seen) <= {e.question for e in examples} and max(seen.count(q) for q in set(seen)) <= 2
    for i in range(len(ds)):
        groups = ds[i]
        assert len(groups) == 2 and sum(len(pairs) for _, pairs in groups) <= 4
        batch = iter(ds.examples[i])
        for schema, pairs in groups:
            exs = [next(batch) for _ in pairs]
            assert len({serialize_schema(e.schema) for e in exs}) == 1  # one database per group
            for (question, target), ex in zip(pairs, exs):
                # schema + question is exactly the example's own prompt; target its SQL and <|endoftext|>
                assert schema + question == encode_prompt(tokenizer, ex)
                assert target == tokenizer.encode(build_target(ex.sql), allowed_special="all")
    scored = sum(int((SharedSchemaCollator(0)([ds[i]])[1] != IGNORE_INDEX).sum()) for i in range(len(ds)))
    assert ds.n_scored_tokens() == scored
    counts = ds.token_counts()
    assert counts["read"] < counts["one_prompt_each"] == sum(ds.stats.lengths)


def test_shared_schema_renaming_is_one_renaming_per_group(splits, tokenizer):
    from t2sql_lib.prompts import serialize_schema

    examples = splits["train"][:80]
    ds = _shared(examples, tokenizer, rename_rate=1.0, rename_word_prob=1.0, views=2, batch_size=6,
                 questions_per_schema=3)
    mappings = set()
    for batch, groups in zip(ds.examples, ds.batches):
        exs = iter(batch)
        for _, pairs in groups:
            group = [next(exs) for _ in pairs]
            assert all(e.meta.get("renamed") for e in group)
            assert len({serialize_schema(e.schema) for e in group}) == 1  # schema, questions and SQL agree
            assert len({tuple(sorted(e.meta["renamed"].items())) for e in group}) == 1
            names = {t.name.lower() for t in group[0].schema.tables} | \
                {c.name.lower() for t in group[0].schema.tables for c in t.columns}
            for e in group:
                assert _identifiers(e.sql) <= names
            mappings.add(tuple(sorted(group[0].meta["renamed"].items())))
    assert len(mappings) > sum(len(b) for b in ds.batches) // 2  # groups on one database are renamed differently
    plain = _shared(examples, tokenizer)
    assert not any("renamed" in e.meta for batch in plain.examples for e in batch)


def test_shared_schema_batches_drop_what_cannot_fit_and_check_their_arguments(splits, tokenizer):
    examples = splits["train"][:30]
    lengths = [len(SFTDataset([e], tokenizer, max_length=4096).sequences[0]) - 1 for e in examples]
    limit = sorted(lengths)[len(lengths) // 2]
    with pytest.warns(UserWarning, match="dropped"):
        ds = _shared(examples, tokenizer, max_length=limit, batch_size=2, questions_per_schema=1)
    assert ds.stats.dropped == sum(n > limit for n in lengths)
    assert max(ds.stats.lengths) <= limit
    for bad, match in (({"questions_per_schema": 0}, "questions_per_schema"), ({"views": 0}, "views"),
                       ({"batch_size": 2}, "batch_size"), ({"rename_rate": 1.5}, "rename_rate"),
                       ({"max_length": 1}, "max_length")):
        with pytest.raises(ValueError, match=match):
            _shared(examples, tokenizer, **bad)
    with pytest.raises(ValueError, match="could be filled"), pytest.warns(UserWarning, match="30 dropped"):
        _shared(examples, tokenizer, max_length=5)


@pytest.mark.parametrize("layout", [{}, {"pos_encoding": "rope", "copy_head": True}], ids=["learned", "rope_copy"])
def test_shared_schema_lm_gives_each_question_the_loss_and_gradients_of_its_own_prompt(splits, tokenizer, layout):
    """The point of it: the same numbers as one prompt per question (SFTDataset), for fewer tokens read."""
    examples = splits["train"][:40]
    ds = _shared(examples, tokenizer, batch_size=6, questions_per_schema=3)
    torch.manual_seed(0)
    model = GPTModel(GPTConfig(vocab_size=tokenizer.n_vocab, context_length=2048, emb_dim=32, n_heads=4,
                               n_layers=2, drop_rate=0.0, **layout))
    wrapped = SharedSchemaLM(model)
    assert list(wrapped.parameters()) == list(model.parameters())  # nothing of its own
    x, y = SharedSchemaCollator(special_id(tokenizer, PAD))([ds[0]])
    assert x["schema_valid"].shape == x["schema_ids"].shape and x["pair_ids"].shape == y.shape
    shared_loss = lm_loss_sum(wrapped(**x), y)
    shared_loss.backward()
    shared_grads = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    single = SFTDataset(ds.examples[0], tokenizer, max_length=2048)
    sx, sy = sft_collator(tokenizer)([single[i] for i in range(len(single))])
    own_loss = lm_loss_sum(model(sx), sy)
    own_loss.backward()
    assert int((y != IGNORE_INDEX).sum()) == int((sy != IGNORE_INDEX).sum())
    torch.testing.assert_close(shared_loss, own_loss, rtol=1e-5, atol=1e-4)
    for p, g in zip(model.parameters(), shared_grads):
        torch.testing.assert_close(g, p.grad, rtol=1e-4, atol=1e-6)
    # and per question, every scored position: the same log-probabilities
    with torch.no_grad():
        lp = wrapped(**x)
        for p in range(len(single)):
            row = model(single[p][0][None])[0]
            want = row[single[p][1] != IGNORE_INDEX]
            torch.testing.assert_close(lp[p][y[p] != IGNORE_INDEX], want, rtol=1e-4, atol=1e-4)


def test_shared_schema_lm_trains_a_model_with_dropout():
    """The model's own forward, dropout included: training mode draws masks, eval mode is deterministic, and a few
    steps fit the batch."""
    torch.manual_seed(0)
    model = GPTModel(GPTConfig(vocab_size=50, context_length=32, emb_dim=32, n_heads=2, n_layers=2, drop_rate=0.1))
    schema_ids = torch.randint(1, 50, (2, 5))
    schema_valid = torch.ones(2, 5, dtype=torch.bool)
    schema_valid[1, :2] = False  # the second schema is 3 tokens, padded on the left
    x = {"schema_ids": schema_ids, "schema_valid": schema_valid, "pair_ids": torch.randint(1, 50, (3, 6)),
         "pair_schema": torch.tensor([0, 0, 1])}
    y = torch.randint(1, 50, (3, 6))
    y[:, :2] = IGNORE_INDEX
    wrapped = SharedSchemaLM(model).train()
    assert not torch.allclose(wrapped(**x), wrapped(**x))  # dropout is on
    with torch.no_grad():
        assert torch.equal(wrapped.eval()(**x), wrapped(**x))
    wrapped.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(40):
        loss = lm_loss_sum(wrapped(**x), y) / int((y != IGNORE_INDEX).sum())
        optimizer.zero_grad()
        loss.backward()
        if not losses:  # gradients reach every parameter, through the cache into the schema's pass
            assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_shared_schema_lm_refuses_a_model_without_a_cache():
    with pytest.raises(ValueError, match="KVCache"):
        SharedSchemaLM(nn.Linear(2, 2))
