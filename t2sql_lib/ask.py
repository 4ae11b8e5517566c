"""``t2sql ask``: answer a question about a SQLite database with a trained model folder.

A model folder (``t2sql_lib.model_folder``) is what ``t2sql demo`` and ``t2sql train --task sft`` write:
weights, tokenizer and settings. ``ask`` reads the database's schema, writes SQL with
chapter 6's best decoding setting (``t2sql_lib.generate.BEST_DECODING``) and runs it with the safe executor.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .generate import BEST_DECODING, DECODERS, DecodingSettings, decode_sql
from .model_folder import LoadedModel, load_model_folder
from .paths import outputs_dir
from .schema import Example, Schema
from .special_tokens import SPECIAL_TOKENS
from .sql import ExecResult, execute_sql, read_schema


def default_model_dir() -> Path:
    """Where ``t2sql demo`` writes its model: ``outputs/demo``."""
    return outputs_dir() / "demo"


@dataclass
class Answer:
    """The SQL written for a question and what executing it gave."""

    question: str
    sql: str
    result: ExecResult
    schema: Schema
    decoding: str


def check_question(question: str) -> str:
    """The question with its whitespace tidied; ValueError when it is empty or spells a special token."""
    text = " ".join((question or "").split())
    if not text:
        raise ValueError("the question is empty: ask something about the database, e.g. \"How many rows are there?\"")
    for token in SPECIAL_TOKENS:
        if token in text:
            raise ValueError(f"the question contains {token!r}, which the prompt format reserves")
    return text


def ask(db_path: str | Path, question: str, model: LoadedModel | str | Path | None = None,
        decoding: DecodingSettings | str = BEST_DECODING, timeout_s: float = 5.0, max_rows: int = 1000) -> Answer:
    """Write SQL for ``question`` on the SQLite database ``db_path`` and execute it (read-only).

    ``model`` is a ``LoadedModel`` or a model folder (default ``outputs/demo``). A missing database raises
    FileNotFoundError, an empty question ValueError; SQL that fails comes back in ``Answer.result.error``.
    """
    text = check_question(question)
    db_path = Path(db_path)
    if not db_path.is_file():
        raise FileNotFoundError(f"no SQLite database at {db_path}")
    loaded = model if isinstance(model, LoadedModel) else load_model_folder(model or default_model_dir())
    schema = read_schema(db_path)
    settings = DECODERS[decoding] if isinstance(decoding, str) else decoding
    if loaded.config.get("demo", {}).get("value_hints"):  # the model was trained with them: ask with them
        from .value_hints import with_value_hints

        text = with_value_hints(text, db_path, schema)
    example = Example(question=text, sql="", db_id=schema.db_id, db_path=db_path, schema=schema)
    sql = decode_sql(loaded.model, loaded.tokenizer, [example], settings)[0]
    return Answer(text, sql, execute_sql(db_path, sql, timeout_s=timeout_s, max_rows=max_rows), schema, settings.name)


def format_table(result: ExecResult, max_rows: int = 20, max_width: int = 40) -> str:
    """Rows as a plain text table with a header, at most ``max_rows`` of them, long cells cut."""
    if isinstance(max_rows, bool) or not isinstance(max_rows, int) or max_rows < 0:
        raise ValueError(f"max_rows must be a whole number >= 0, got {max_rows!r}")  # -1 would hide the last row
    def cell(value: Any) -> str:
        text = "NULL" if value is None else str(value)
        return text if len(text) <= max_width else text[: max_width - 3] + "..."

    header = [cell(c) for c in result.columns] or [""]
    rows = [[cell(v) for v in row] for row in result.rows[:max_rows]]
    widths = [max([len(header[i])] + [len(r[i]) for r in rows]) for i in range(len(header))]
    lines = [" | ".join(h.ljust(w) for h, w in zip(header, widths)), "-+-".join("-" * w for w in widths)]
    lines += [" | ".join(v.ljust(w) for v, w in zip(r, widths)) for r in rows]
    shown = len(rows)
    more = len(result.rows) - shown
    footer = f"({len(result.rows)}{'+' if result.truncated else ''} row{'s' if len(result.rows) != 1 else ''}"
    footer += f", {more} not shown)" if more > 0 else ")"
    return "\n".join(line.rstrip() for line in lines) + "\n" + footer


def run_ask(db: str, question: str, model_dir: str | None = None, decoding: str = BEST_DECODING,
            max_rows: int = 20) -> int:
    """The ``t2sql ask`` command: print the SQL, then the result table; 1 when the SQL fails to run."""
    if isinstance(max_rows, bool) or not isinstance(max_rows, int) or max_rows < 0:
        raise ValueError(f"--max-rows must be a whole number >= 0, got {max_rows!r}")
    answer = ask(db, question, model_dir, decoding)
    print(answer.sql or "(the model wrote no SQL)")
    print()
    if not answer.result.ok:
        err = answer.result.error
        print(f"t2sql ask: the SQL failed: {type(err).__name__}: {err}", file=sys.stderr)
        return 1
    print(format_table(answer.result, max_rows=max_rows))
    return 0
