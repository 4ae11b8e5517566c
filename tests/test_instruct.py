"""Instruction tuning (t2sql_lib.instruct): the format and its masking, the four tasks' data and their checks, the
evaluation's scores, and the assistant's handler without a browser."""

from __future__ import annotations

import random
import sqlite3

import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from t2sql_lib.instruct import (
    CANNOT_ANSWER,
    INPUT_HEADER,
    INSTRUCTION_HEADER,
    INSTRUCTIONS,
    REPAIR_KINDS,
    RESPONSE_HEADER,
    TASKS,
    InstructionDataset,
    InstructionExample,
    SQLAssistant,
    absent_from,
    break_sql,
    build_instruction_data,
    explain_sql,
    generate_responses,
    mentioned,
    parse_response,
    query_names,
    render_prompt,
    response_loss,
    schema_input,
    schema_table,
    score_response,
    sql_response,
    summarize,
    task_counts,
    text_to_sql_example,
    word_f1,
)
from t2sql_lib.model import GPTConfig, GPTModel
from t2sql_lib.sft import SFTCollator
from t2sql_lib.special_tokens import ENDOFTEXT, SQL
from t2sql_lib.sql import execute_sql, read_schema
from t2sql_lib.tokenizer import BPETokenizer


@pytest.fixture(scope="module")
def items(splits):
    mix = {"text_to_sql": 1.0, "explain": 1.0, "repair": 1.0, "unanswerable": 1.0}
    return build_instruction_data(splits["train"], mix=mix, seed=0)


def test_every_task_is_built(items, splits):
    counts = task_counts(items)
    assert list(counts) == list(TASKS)
    assert counts["text_to_sql"] == counts["explain"] == len(splits["train"])
    assert counts["repair"] > 0.5 * len(splits["train"]) and counts["unanswerable"] > 0.3 * len(splits["train"])
    assert {i.meta["kind"] for i in items if i.task == "repair"} == set(REPAIR_KINDS)
    assert all(i.instruction == INSTRUCTIONS[i.task] for i in items)
    again = build_instruction_data(splits["train"], mix={t: 1.0 for t in TASKS}, seed=0)
    assert [i.text() for i in again] == [i.text() for i in items]  # seeded: the same data every time


def test_default_mix_replays_each_text_to_sql_example_three_times(splits):
    from collections import Counter

    from t2sql_lib.instruct import DEFAULT_MIX

    assert DEFAULT_MIX["text_to_sql"] == 3.0
    train = splits["train"][:60]
    default = build_instruction_data(train, seed=0)
    counts = task_counts(default)
    assert counts["text_to_sql"] == 3 * len(train)
    assert Counter(i.source.question for i in default if i.task == "text_to_sql") == \
        Counter(e.question for e in train for _ in range(3))  # every example three times, no other
    assert counts["text_to_sql"] / len(default) > 0.7  # SQL stays most of what is trained
    with pytest.raises(ValueError, match="unknown tasks"):
        build_instruction_data(train, mix={"text2sql": 1.0})


def test_repair_examples_fail_with_the_recorded_error_and_the_fix_runs(items):
    repairs = [i for i in items if i.task == "repair"]
    for item in repairs:
        broken = execute_sql(item.source.db_path, item.meta["broken"])
        assert not broken.ok and str(broken.error) == item.meta["error"]
        assert f"Error: {item.meta['error']}" in item.input and item.meta["broken"] in item.input
        assert execute_sql(item.source.db_path, item.source.sql).ok
        assert item.response == sql_response(item.source.sql)
        assert item.meta["broken"] != item.source.sql
    by_kind = {i.meta["kind"]: i.meta["error"] for i in repairs}
    assert "no such column" in by_kind["column"] and "no such table" in by_kind["table"]
    assert "no such function" in by_kind["function"] and "parse" in by_kind["keyword"]


def test_break_sql_edits_one_name_outside_quotes():
    from t2sql_lib.schema import Column, Schema, Table

    schema = Schema("s", (Table("singer", (Column("name"), Column("country"))),))
    sql = "SELECT name FROM singer WHERE country = 'name'"
    broken = break_sql(sql, schema, "column", random.Random(3))
    assert broken is not None and broken.endswith("'name'")  # the quoted value is never touched
    assert sum(a != b for a, b in zip(broken.split(), sql.split())) == 1  # one word changed
    assert break_sql("SELECT name FROM singer", schema, "function", random.Random(0)) is None
    with pytest.raises(ValueError):
        break_sql(sql, schema, "nonsense", random.Random(0))


def test_explanations_name_the_tables_and_columns_of_the_query(items):
    explains = [i for i in items if i.task == "explain"]
    for item in explains:
        tables, columns = query_names(item.source.sql, item.source.schema)
        assert tables and (item.meta["tables"], item.meta["columns"]) == (tables, columns)
        assert all(mentioned(n, item.response) for n in tables + columns), (item.source.sql, item.response)
        assert item.response.endswith(item.source.question)
        assert f"{SQL} " in item.input


def test_explain_sql_describes_the_operations():
    from t2sql_lib.schema import Column, Schema, Table

    schema = Schema("s", (Table("singer", (Column("singer_id", "integer"), Column("name"), Column("age", "integer"))),
                          Table("concert", (Column("concert_id", "integer"), Column("singer_id", "integer")))))
    text = explain_sql("SELECT T1.name, COUNT(*) FROM singer AS T1 JOIN concert AS T2 ON T1.singer_id = T2.singer_id "
                       "WHERE T1.age > 30 GROUP BY T1.name ORDER BY COUNT(*) DESC LIMIT 3", schema, "Who sings most?")
    for words in ("joins singer and concert", "filters the rows", "groups them", "counts", "sorts the result",
                  "keeps the first 3", "name", "age", "singer_id", "It answers: Who sings most?"):
        assert words in text, words
    assert not mentioned("T1", text) and mentioned("age", text) and not mentioned("ag", text)


def test_unanswerable_questions_ask_about_something_absent(items):
    unanswerable = [i for i in items if i.task == "unanswerable"]
    for item in unanswerable:
        absent, schema = item.meta["absent"], item.source.schema
        assert absent in item.source.question and absent in item.response
        assert absent_from(schema, absent) and item.meta["borrowed_from"] != schema.db_id
        names = " ".join(n.lower() for t in schema.tables for n in (t.name, *(c.name for c in t.columns)))
        assert not any(w in names.split() for w in absent.lower().split() if len(w) >= 3)
        assert item.response.startswith(CANNOT_ANSWER) and item.instruction == INSTRUCTIONS["text_to_sql"]
    assert {i.meta["kind"] for i in unanswerable} == {"table", "column"}


def test_template_renders_and_only_the_response_is_scored(items, splits):
    tokenizer = BPETokenizer.train([i.text() for i in items[:300]], vocab_size=400)
    item = text_to_sql_example(splits["train"][0])
    prompt = item.prompt()
    assert prompt == render_prompt(item.instruction, item.input)
    assert prompt.index(INSTRUCTION_HEADER) < prompt.index(INPUT_HEADER) < prompt.index(RESPONSE_HEADER)
    assert prompt.endswith(f"{RESPONSE_HEADER}\n") and item.text() == prompt + item.response + ENDOFTEXT
    assert item.response.startswith(f"{SQL} ") and item.input == schema_input(item.source.schema, item.source.question)
    ds = InstructionDataset([item, *items[:20]], tokenizer, max_length=2048)
    n_prompt = len(tokenizer.encode(prompt, allowed_special="all"))
    x, y = ds[0]
    assert len(x) == len(y) == len(ds.sequences[0]) - 1
    assert (y[: n_prompt - 1] == -100).all() and (y[n_prompt - 1:] != -100).all()
    assert tokenizer.decode(y[y != -100].tolist()) == item.response + ENDOFTEXT
    assert torch.equal(x[1:], ds.sequences[0][1:-1])
    batch_x, batch_y = SFTCollator(pad_id=0)([ds[0], ds[1]])
    assert batch_x.shape == batch_y.shape and int((batch_y != -100).sum()) == int((y != -100).sum()) + int(
        (ds[1][1] != -100).sum())
    with pytest.warns(UserWarning, match="dropped"):
        short = InstructionDataset([item, *items[:20]], tokenizer, max_length=ds.stats.max_length - 1)
    assert short.stats.dropped >= 1 and short.stats.kept + short.stats.dropped == 21


def test_parse_and_score_responses(items):
    assert parse_response(f"{SQL} SELECT 1") == ("sql", "SELECT 1")
    assert parse_response(f"{CANNOT_ANSWER} it has nothing about x.")[0] == "cannot_answer"
    assert parse_response("It reads t.")[0] == "text"
    by_task = {i.task: i for i in items}
    perfect = pd.DataFrame([score_response(i, i.response) for i in by_task.values()])
    scores = summarize(perfect)
    for column in ("text_to_sql EX", "repair EX", "explain names", "explain all named", "explain word F1",
                   "unanswerable refused", "unanswerable names it"):
        assert scores[column] == 1.0, column
    assert scores["text_to_sql refused"] == 0.0
    wrong = pd.DataFrame([score_response(i, "SELECT nothing") for i in by_task.values()])
    assert summarize(wrong)["text_to_sql EX"] == 0.0 and summarize(wrong)["unanswerable refused"] == 0.0
    unanswerable = by_task["unanswerable"]
    uses_it = score_response(unanswerable, f"{SQL} SELECT * FROM \"{unanswerable.meta['absent']}\"")
    assert not uses_it["refused"] and not uses_it["names_absent"]  # writing SQL about it is not naming it as missing
    assert word_f1("a b c", "a b d") == pytest.approx(2 / 3) and word_f1("x", "y") == 0.0


@pytest.fixture()
def tiny_db(tmp_path):
    path = tmp_path / "shop.sqlite"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE singer (singer_id integer primary key, name text, country text)")
    con.executemany("INSERT INTO singer VALUES (?, ?, ?)", [(1, "Ana", "Peru"), (2, "Bo", "Chad"), (3, "Cy", "Peru")])
    con.commit()
    con.close()
    return path


def test_assistant_handler_returns_sql_and_a_dataframe_without_a_browser(tiny_db):
    schema = read_schema(tiny_db, "shop")
    question, gold = "Which singers are from Peru?", "SELECT name FROM singer WHERE country = 'Peru'"
    item = InstructionExample("text_to_sql", INSTRUCTIONS["text_to_sql"], schema_input(schema, question),
                              sql_response(gold), source=None)  # type: ignore[arg-type]
    tokenizer = BPETokenizer.train([item.text()] * 3, vocab_size=300)
    ds = InstructionDataset([item], tokenizer, max_length=255)
    x, y = ds[0]
    torch.manual_seed(0)
    model = GPTModel(GPTConfig(vocab_size=tokenizer.n_vocab, context_length=256, emb_dim=32, n_heads=2, n_layers=1,
                               drop_rate=0.0))
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-2)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny matrices: one thread is faster, and steadier on a busy machine
    try:
        for _ in range(60):  # a model that has learned this one answer by heart
            loss = F.cross_entropy(model(x[None])[0], y, ignore_index=-100)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    finally:
        torch.set_num_threads(threads)
    assert loss.item() < 0.05
    assistant = SQLAssistant(model, tokenizer, {"shop": (schema, tiny_db)}, question=question)
    assert list(assistant.show_schema()["column"]) == ["singer_id", "name", "country"]
    assert schema_table(schema)["key"].tolist() == ["pk", "", ""]
    answer = assistant.ask()
    assert answer.sql == gold and answer.error is None
    assert isinstance(answer.result, pd.DataFrame) and answer.result["name"].tolist() == ["Ana", "Cy"]
    assert assistant.last is answer and len(assistant.answer_view.outputs) == 2  # the SQL, then the table
    assistant.temperature.value, assistant.top_k.value = 1.0, 1  # sampling from the top-1 token is greedy
    assert assistant.ask().sql == gold
    assistant.question.value = "How many singers?"
    assert isinstance(assistant.ask().response, str)


def test_response_loss_per_task(items, splits):
    tokenizer = BPETokenizer.train([i.text() for i in items[:200]], vocab_size=400)
    torch.manual_seed(0)
    model = GPTModel(GPTConfig(vocab_size=tokenizer.n_vocab, context_length=1024, emb_dim=16, n_heads=2, n_layers=1,
                               drop_rate=0.0))
    chosen = [next(i for i in items if i.task == t) for t in TASKS] + [next(i for i in items if i.task == "explain")]
    losses = response_loss(model, tokenizer, chosen)
    assert list(losses) == [*TASKS, "all"]
    assert all(0 < v < 20 for v in losses.values())
    assert min(losses[t] for t in TASKS) <= losses["all"] <= max(losses[t] for t in TASKS)  # a weighted mean
    assert list(response_loss(model, tokenizer, chosen[:1])) == ["text_to_sql", "all"]


def test_long_prompts_get_less_room_before_they_are_cut():
    tokenizer = BPETokenizer.train(["SELECT name FROM singer"] * 3, vocab_size=270)
    torch.manual_seed(0)
    model = GPTModel(GPTConfig(vocab_size=tokenizer.n_vocab, context_length=64, emb_dim=16, n_heads=2, n_layers=1,
                               drop_rate=0.0))
    prompt = "x" * 50  # 50 tokens: with 32 new tokens it would not fit, with the 14 left it does
    assert len(tokenizer.encode(prompt)) == 50
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no cut, so no warning
        (short,) = generate_responses(model, tokenizer, [prompt], max_new_tokens=32, min_new_tokens=8)
    assert isinstance(short, str)
    with pytest.warns(UserWarning, match="1 of 1 prompts were cut"):
        generate_responses(model, tokenizer, ["x" * 60], max_new_tokens=32, min_new_tokens=8)
