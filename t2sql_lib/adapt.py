"""``t2sql adapt``: a model for a user's own SQLite database, taught on questions the generator draws for it.

    t2sql adapt --db shop.sqlite --out outputs/adapt_shop [--model weights/demo] [--steps 400] [--minutes 5]

1. Reads the file (read-only) into a description (``synth.from_database``), draws question/SQL pairs from it with
   the generator's patterns (``synth.build.generate_for_database``) and keeps only the pairs whose SQL runs on the
   file and returns exactly the rows the pattern computed: ``pairs.jsonl`` (one question, SQL and pattern a line)
   and ``summary.json`` (the roles read, the keys, the patterns used, the count and a sample).
   ``--synthesize-only`` stops here.
2. Holds out a share of the pairs, and continues training the course model (a model folder: ``outputs/demo`` after
   ``make demo``, else the reference weights ``weights/demo``) on the others, mixed with as many of the generated
   data's training questions so that the general skill is kept; the engine's time budget (``--minutes``) can end
   it early.
3. Scores the held-out pairs before and after (greedy and the default decoder), and writes the adapted model folder
   (``t2sql ask --model DIR`` uses it) and ``adapt_report.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import random
import sqlite3
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .config import Preset
from .generate import BEST_DECODING
from .model_folder import load_model_folder, save_model_folder, tokenizer_json
from .schema import Example
from .sft import (
    SharedSchemaBatches,
    SharedSchemaCollator,
    SharedSchemaLM,
    encode_prompt,
    evaluate_model,
    fast_encoder,
    special_id,
)
from .special_tokens import PAD
from .sql import connect_read_only
from .synth.build import generate_for_database
from .synth.from_database import DatabaseDescription, describe_database
from .synth.patterns import Draft
from .train import RunOptions, TrainTask, train
from .value_hints import add_value_hints

DEFAULT_PAIRS = 1000
QUERY_SECONDS = 2.0  # a gold query slower than this on the user's database is dropped


def _sort_key(row: tuple) -> tuple:
    """Rows sort alike whatever they hold: numbers (rounded for the key only), text, then NULLs and blobs."""
    return tuple((0, round(v, 6), "") if isinstance(v, (int, float)) else (1, 0, v) if isinstance(v, str)
                 else (2, 0, repr(v)) for v in row)


def _rounded(row: tuple) -> tuple:
    return tuple(round(v, 6) if isinstance(v, float) else v for v in row)


def _close(a: tuple, b: tuple) -> bool:
    if len(a) != len(b):
        return False
    for x, y in zip(a, b):
        numbers = isinstance(x, (int, float)) and isinstance(y, (int, float))
        if numbers and not math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-6):
            return False
        if not numbers and x != y:
            return False
    return True


def same_rows(got: list[tuple], expected: list[tuple], ordered: bool) -> bool:
    """True when two results hold the same rows (in the same order when ``ordered``), reals within rounding."""
    if len(got) != len(expected):
        return False
    if not ordered:
        if Counter(got) == Counter(expected) or Counter(map(_rounded, got)) == Counter(map(_rounded, expected)):
            return True
        got, expected = sorted(got, key=_sort_key), sorted(expected, key=_sort_key)
    return all(_close(a, b) for a, b in zip(got, expected))


@dataclass
class GoldCheck:
    """Runs each draft's SQL once on the database and accepts it when SQLite returns the pattern's answer."""

    path: Path
    tally: Counter = field(default_factory=Counter)  # why drafts were dropped ("sql error", "no rows", ...)
    _seen: dict[str, bool] = field(default_factory=dict)
    _con: sqlite3.Connection | None = None

    def __call__(self, draft: Draft) -> bool:
        if draft.sql not in self._seen:
            verdict = self._check(draft)
            self.tally[verdict] += 1
            self._seen[draft.sql] = verdict == "kept"
        return self._seen[draft.sql]

    def _check(self, draft: Draft) -> str:
        if self._con is None:
            self._con = connect_read_only(self.path)
        deadline = time.perf_counter() + QUERY_SECONDS
        self._con.set_progress_handler(lambda: int(time.perf_counter() > deadline), 10_000)
        try:
            rows = [tuple(r) for r in self._con.execute(draft.sql).fetchall()]
        except (sqlite3.Error, ValueError, OverflowError):
            return "sql error or too slow"
        if not rows:
            return "no rows"
        return "kept" if same_rows(rows, draft.answer, draft.ordered) else "answer differs"

    def close(self) -> None:
        """Close the connection (it reopens on the next check)."""
        if self._con is not None:
            self._con.close()
            self._con = None


@dataclass
class Synthesis:
    """The pairs drawn for one database, its description and what the gold check dropped."""

    description: DatabaseDescription
    examples: list[Example]
    dropped: dict[str, int]
    seconds: float

    def summary(self, sample: int = 12) -> dict[str, Any]:
        """Patterns used, count, a sample, the roles, words, sampled values and keys read, and the drafts dropped."""
        domain = self.description.database.domain
        return {
            "db_id": domain.db_id,
            "pairs": len(self.examples),
            "seconds": round(self.seconds, 2),
            "patterns": dict(Counter(e.meta["pattern"] for e in self.examples).most_common()),
            "roles": self.description.roles(),
            "values": self.description.sample_values(),
            "words": {t.name: {"singular": t.singular, "plural": t.plural,
                               "columns": {c.name: c.words for c in t.columns}} for t in domain.tables},
            "foreign_keys": [{"table": r.table, "column": r.column, "ref_table": r.ref_table,
                              "declared": r.declared} for r in self.description.references],
            "tables_left_out": self.description.left_out,
            "dropped_drafts": self.dropped,
            "sample": [{"question": e.question, "sql": e.sql} for e in self.examples[:sample]],
        }


def synthesize_for_database(path: str | Path, n: int = DEFAULT_PAIRS, seed: int = 0) -> Synthesis:
    """Up to ``n`` distinct question/SQL pairs about the SQLite file ``path``, every gold query checked on it."""
    if n <= 0:
        raise ValueError(f"the number of pairs must be positive, got {n}")
    start = time.perf_counter()
    description = describe_database(path)
    check = GoldCheck(description.database.path)
    try:
        drawn = generate_for_database(description.database, n, seed, accept=check)
    finally:
        check.close()
    seen: set[tuple[str, str]] = set()
    examples = []
    for example, _ in drawn:  # once new questions run out the generator repeats some: keep each pair once
        if (example.question, example.sql) not in seen:
            seen.add((example.question, example.sql))
            examples.append(example)
    if not examples:
        raise ValueError(f"{path}: no question pattern fits this database (no usable columns)")
    dropped = {k: v for k, v in check.tally.items() if k != "kept"}
    return Synthesis(description, examples, dropped, time.perf_counter() - start)


def write_synthesis(synthesis: Synthesis, out_dir: str | Path) -> tuple[Path, Path]:
    """Write ``pairs.jsonl`` and ``summary.json`` into ``out_dir``; returns their paths."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} is a file, not a folder")
    out.mkdir(parents=True, exist_ok=True)
    pairs = out / "pairs.jsonl"
    pairs.write_text("".join(json.dumps({"question": e.question, "sql": e.sql, "db_id": e.db_id,
                                         "pattern": e.meta["pattern"]}, ensure_ascii=False) + "\n"
                             for e in synthesis.examples), encoding="utf-8")
    summary = out / "summary.json"
    summary.write_text(json.dumps(synthesis.summary(), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return pairs, summary


@dataclass
class AdaptSettings:
    """How ``adapt_model`` trains: on how many pairs, for how long, with how much of the general data."""

    pairs: int = DEFAULT_PAIRS  # pairs drawn for the database at most (repeats are dropped)
    steps: int = 400  # optimizer steps (the learning-rate schedule spans them)
    minutes: float = 0.0  # > 0: stop once this much training time is spent (train.max_minutes)
    general: float = 1.0  # generated training questions mixed in per synthesized pair: the general skill is kept
    held_out: float = 0.1  # share of the pairs kept out of training, to score before and after
    max_new_tokens: int = 128  # longest SQL written when scoring
    seed: int = 0
    progress: bool = True


def default_base_model() -> Path:
    """The course model to start from: ``outputs/demo`` after ``make demo``, else the reference weights."""
    from .paths import outputs_dir, project_root

    root = project_root()
    candidates = [outputs_dir() / "demo", *([root / "weights" / "demo"] if root else [])]
    for folder in candidates:
        if (folder / "model.safetensors").is_file():
            return folder
    raise FileNotFoundError("no course model to adapt: train one with `t2sql demo` or pass --model DIR")


def split_pairs(examples: list[Example], held_out: float, seed: int) -> tuple[list[Example], list[Example]]:
    """Training and held-out pairs: a seeded shuffle, ``held_out`` of them (at least 20, at most half) kept out."""
    if not 0.0 < held_out < 1.0:
        raise ValueError(f"held_out must be between 0 and 1, got {held_out}")
    shuffled = list(examples)
    random.Random(f"t2sql-adapt:{seed}").shuffle(shuffled)
    n_held = min(len(shuffled) // 2, max(20, round(held_out * len(shuffled))))
    return shuffled[n_held:], shuffled[:n_held]


def general_questions(preset: Preset, n: int, seed: int) -> list[Example]:
    """``n`` of the generated data's training questions (a seeded sample), the data the course model learnt on."""
    from .synth import load_generated

    train = load_generated(n_examples=preset.data.n_synth_examples, seed=0)["train"]
    return random.Random(f"t2sql-adapt-general:{seed}").sample(train, min(n, len(train)))


def score_held_out(model: torch.nn.Module, tokenizer: Any, held: list[Example], max_new_tokens: int = 128
                   ) -> dict[str, float]:
    """Execution accuracy on the held-out pairs, greedy and with the default decoder."""
    greedy = evaluate_model(model, tokenizer, held, max_new_tokens=max_new_tokens)
    best = evaluate_model(model, tokenizer, held, max_new_tokens=max_new_tokens, decoding=BEST_DECODING)
    return {"greedy": greedy.summary()["all"]["execution_accuracy"],
            BEST_DECODING: best.summary()["all"]["execution_accuracy"]}


def adapt_training(model: torch.nn.Module, tokenizer: Any, preset: Preset, train_ex: list[Example],
                   held: list[Example], settings: AdaptSettings, out: Path) -> Any:
    """Continue training ``model`` on ``train_ex`` with the engine; the schema is read once for its questions."""
    s, per_schema = preset.train, max(2, preset.data.questions_per_schema)
    batch_size = max(s.batch_size, per_schema)
    train_ds = SharedSchemaBatches(train_ex, tokenizer, max_length=preset.model.context_length,
                                   batch_size=batch_size, questions_per_schema=per_schema, seed=settings.seed)
    val_ds = SharedSchemaBatches(held, tokenizer, max_length=preset.model.context_length, batch_size=batch_size,
                                 questions_per_schema=per_schema, seed=settings.seed)
    engine = dataclasses.replace(s, batch_size=1, max_steps=settings.steps, warmup_steps=min(s.warmup_steps,
                                 settings.steps // 10), eval_every=settings.steps, early_stopping_patience=0,
                                 max_minutes=settings.minutes, seed=settings.seed)
    task = TrainTask(val_data=val_ds, collate_fn=SharedSchemaCollator(special_id(tokenizer, PAD)),
                     wrap_model=SharedSchemaLM)
    options = RunOptions(out_dir=out / "run", config={**preset.to_dict(), "model": dataclasses.asdict(model.cfg)},
                         tokenizer=tokenizer_json(tokenizer), device="cpu", progress=settings.progress)
    return train(model, train_ds, engine, task, options)


def check_fits_context(synthesis: Synthesis, tokenizer: Any, context_length: int) -> None:
    """ValueError, naming the database, when even its shortest prompt leaves no room for SQL in the model's context."""
    encoder = fast_encoder(tokenizer)
    shortest = min(len(encode_prompt(encoder, ex)) for ex in synthesis.examples)
    if shortest + 32 > context_length:
        raise ValueError(f"{synthesis.description.database.domain.db_id}: its schema and a question take {shortest} "
                         f"tokens, more than the model's context of {context_length} leaves room for: a model with a "
                         "longer context is needed for this database")


@dataclass
class Adaptation:
    """What ``adapt_model`` did: the pairs, the run and the held-out scores before and after."""

    synthesis: Synthesis
    n_train: int
    n_general: int
    n_held_out: int
    before: dict[str, float]
    after: dict[str, float]
    steps: int
    out_of_time: bool
    out_dir: Path


def adapt_model(db: str | Path, out_dir: str | Path, model_dir: str | Path | None = None,
                settings: AdaptSettings | None = None) -> Adaptation:
    """Synthesize pairs for ``db``, train the course model on them (with general data), score and save it."""
    settings = settings or AdaptSettings()
    if settings.steps < 1 or settings.minutes < 0 or settings.general < 0:
        raise ValueError(f"--steps must be at least 1, --minutes and --general at least 0 (got {settings.steps}, "
                         f"{settings.minutes}, {settings.general})")
    out = Path(out_dir)
    synthesis = synthesize_for_database(db, settings.pairs, settings.seed)
    write_synthesis(synthesis, out)
    loaded = load_model_folder(model_dir or default_base_model())
    preset = Preset.from_dict(loaded.config["preset"], source=f"{loaded.path / 'config.json'}")
    train_pairs, held = split_pairs(synthesis.examples, settings.held_out, settings.seed)
    general = general_questions(preset, round(settings.general * len(train_pairs)), settings.seed)
    hints = bool(loaded.config.get("demo", {}).get("value_hints"))
    if hints:  # asked the way the model was trained
        train_pairs, held, general = add_value_hints(train_pairs), add_value_hints(held), add_value_hints(general)
    model, tokenizer = loaded.model, loaded.tokenizer
    check_fits_context(synthesis, tokenizer, model.cfg.context_length)
    before = score_held_out(model, tokenizer, held, settings.max_new_tokens)
    result = adapt_training(model, tokenizer, preset, train_pairs + general, held, settings, out)
    model.eval()
    after = score_held_out(model, tokenizer, held, settings.max_new_tokens)
    adaptation = Adaptation(synthesis, len(train_pairs), len(general), len(held), before, after, result.step,
                            result.out_of_time, out)
    report = {"db_id": synthesis.description.database.domain.db_id, "base_model": str(loaded.path),
              "pairs": len(synthesis.examples), "train_pairs": len(train_pairs), "general_questions": len(general),
              "held_out": len(held), "steps": result.step, "out_of_time": result.out_of_time,
              "held_out_execution_accuracy": {"before": before, "after": after}}
    settings_saved = {k: v for k, v in loaded.config.items() if k not in ("model", "adapt")}
    save_model_folder(out, model, tokenizer, {**settings_saved, "adapt": {**report, **dataclasses.asdict(settings)}})
    (out / "adapt_report.json").write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    return adaptation


def run_adapt_command(args: argparse.Namespace) -> int:
    """``t2sql adapt``: write the pairs and their summary; without ``--synthesize-only``, train and score too."""
    if args.synthesize_only:
        synthesis = synthesize_for_database(args.db, args.pairs, args.seed)
        pairs, summary = write_synthesis(synthesis, args.out)
        _print_synthesis(synthesis)
        print(f"wrote {pairs}\nwrote {summary}")
        return 0
    settings = AdaptSettings(pairs=args.pairs, steps=args.steps, minutes=args.minutes, general=args.general,
                             seed=args.seed, progress=not args.no_progress)
    a = adapt_model(args.db, args.out, args.model, settings)
    _print_synthesis(a.synthesis)
    print(f"trained {a.steps} steps{' (the time budget ended it)' if a.out_of_time else ''} on {a.n_train} pairs "
          f"and {a.n_general} general questions")
    for name in a.before:
        print(f"held-out pairs ({a.n_held_out}), {name}: execution accuracy {a.before[name]:.1%} -> "
              f"{a.after[name]:.1%}")
    print(f"model folder: {a.out_dir} (t2sql ask --model {a.out_dir} --db {args.db} \"...\")")
    return 0


def _print_synthesis(synthesis: Synthesis) -> None:
    info = synthesis.summary(sample=5)
    print(f"{info['db_id']}: {info['pairs']} question/SQL pairs from {len(info['patterns'])} patterns "
          f"in {info['seconds']:.1f} s, every gold query checked on the database")
    for item in info["sample"]:
        print(f"  {item['question']}\n    {item['sql']}")


def register_cli(subparsers) -> argparse.ArgumentParser:
    """Add the ``adapt`` subcommand to the ``t2sql`` command line's subparsers."""
    p = subparsers.add_parser("adapt", help="teach the course model your own SQLite database (questions drawn for it)")
    p.add_argument("--db", required=True, metavar="FILE", help="the SQLite database (opened read-only)")
    p.add_argument("--out", required=True, metavar="DIR",
                   help="folder for pairs.jsonl, summary.json and the adapted model folder")
    p.add_argument("--model", default=None, metavar="DIR",
                   help="the model folder to start from (default: outputs/demo after `make demo`, else weights/demo)")
    p.add_argument("--synthesize-only", action="store_true",
                   help="write the question/SQL pairs and a summary, without training")
    p.add_argument("--pairs", type=int, default=DEFAULT_PAIRS, metavar="N",
                   help=f"pairs to draw at most (default: {DEFAULT_PAIRS}; repeats are dropped)")
    p.add_argument("--steps", type=int, default=AdaptSettings.steps, metavar="N",
                   help=f"training steps (default: {AdaptSettings.steps})")
    p.add_argument("--minutes", type=float, default=0.0, metavar="M",
                   help="stop training once M minutes are spent (default: 0, no limit)")
    p.add_argument("--general", type=float, default=AdaptSettings.general, metavar="R",
                   help=f"generated training questions mixed in per pair (default: {AdaptSettings.general})")
    p.add_argument("--seed", type=int, default=0, help="random seed of the draws and the training (default: 0)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run_adapt_command)
    return p
