"""The ``t2sql`` command line."""

from __future__ import annotations

import argparse
import sys


def _cmd_presets(args: argparse.Namespace) -> int:
    from .config import PRESETS, get_preset

    chosen = get_preset().name
    for name, preset in PRESETS.items():
        m = preset.model
        mark = "*" if name == chosen else " "
        print(f"{mark} {name:<8} {m.n_layers} layers x {m.emb_dim} d_model, context {m.context_length}: "
              f"{preset.description}")
    if args.save:
        path = get_preset(args.save_name).save(args.save)
        print(f"wrote {path}")
    return 0


def _fraction(text: str) -> float:
    """An argparse type: a number between 0 and 1."""
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a fraction between 0 and 1")
    return value


def _positive_seconds(text: str) -> float:
    """An argparse type: a positive, finite number of seconds (``nan`` would disable a time limit)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a number of seconds") from None
    if not (0.0 < value < float("inf")):
        raise argparse.ArgumentTypeError(f"{text!r}: expected a positive, finite number of seconds")
    return value


def _count(text: str) -> int:
    """An argparse type: a whole number >= 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a whole number >= 0")
    return value


def _check_output_file(path) -> None:
    """ValueError unless ``path`` can be written as a file, so that a finished evaluation is never lost."""
    import os

    if path.is_dir():
        raise ValueError(f"--output {path} is a folder: name a file, e.g. {path / 'report.json'}")
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise ValueError(f"--output {path}: {parent} is a file, not a folder")
    if not os.access(parent, os.W_OK | os.X_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise ValueError(f"--output {path}: not writable")


def _cmd_demo(args: argparse.Namespace) -> int:
    from .demo import DemoConfig, run_demo

    test_examples = None if args.test_examples in ("all", "0") else int(args.test_examples)
    decoders = ("greedy",) if args.decoding == "greedy" else ("greedy", args.decoding)
    config = DemoConfig(preset=args.preset, overrides=tuple(args.overrides), tokenizer=args.tokenizer,
                        mask_prompt=not args.no_mask_prompt, val_examples=args.val_examples,
                        test_examples=test_examples, decoders=decoders, out_dir=args.out,
                        threads=args.threads, progress=not args.no_progress,
                        questions_per_schema=args.questions_per_schema, schema_views=args.schema_views,
                        question_variety=args.question_variety,
                        value_hints=True if args.value_hints else None,
                        spider_questions=args.spider_questions)
    run_demo(config)
    return 0


def _cmd_ask(args: argparse.Namespace) -> int:
    from .ask import run_ask

    return run_ask(args.db, args.question, args.model, args.decoding, args.max_rows)


def _cmd_eval(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .evaluate import evaluate, read_predictions
    from .paths import outputs_dir

    output = Path(args.output) if args.output else outputs_dir() / f"eval_{args.dataset}_{args.split}.json"
    _check_output_file(output)  # before scoring: a bad path must not throw a finished evaluation away
    if args.dataset == "spider":
        from .spider import load_spider

        examples = load_spider(args.root, args.split)
    else:
        from .wikisql import load_wikisql

        try:
            examples = load_wikisql(args.root, args.split, download=not args.no_download)
        except OSError as err:  # the download failed (offline, proxy): say so without a traceback
            if isinstance(err, FileNotFoundError):
                raise
            print(f"t2sql eval: error: {err}", file=sys.stderr)
            return 2
    predictions = read_predictions(args.predictions, examples)
    n_read = sum(p is not None for p in predictions)
    skipped = f" ({examples.n_skipped} more skipped: {', '.join(examples.skipped)})" if examples.n_skipped else ""
    print(f"{args.dataset} {args.split}: {len(examples)} questions{skipped}; "
          f"{n_read} predictions read from {args.predictions}, {len(examples) - n_read} missing (scored 0)")
    report = evaluate(examples, predictions, timeout_s=args.timeout, progress=args.progress,
                      keep_distinct=args.keep_distinct,
                      info={"dataset": args.dataset, "split": args.split, "predictions": str(args.predictions),
                            "skipped": examples.skipped})
    print(report)
    report.save_json(output)
    print(f"wrote {output}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="t2sql", description="text2sql-from-scratch command line")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("presets", help="list the model/training presets (* marks the one in use)")
    p.add_argument("--save", metavar="PATH", help="write the preset in use (or --name) to a YAML/JSON file")
    p.add_argument("--name", dest="save_name", default=None, help="preset to save with --save")
    p.set_defaults(func=_cmd_presets)

    p = sub.add_parser("eval", help="score a predictions file (one SQL per line) on Spider or WikiSQL")
    p.add_argument("--dataset", choices=("spider", "wikisql"), default="spider")
    p.add_argument("--split", default="dev", help="dataset split (default: dev)")
    p.add_argument("--predictions", required=True, metavar="FILE",
                   help="one SQL per line in dataset order, optionally 'SQL<TAB>db_id'")
    p.add_argument("--root", default=None, metavar="DIR", help="dataset folder (default: found automatically)")
    p.add_argument("--output", default=None, metavar="JSON", help="report path (default: outputs/eval_<dataset>_<split>.json)")
    p.add_argument("--timeout", type=_positive_seconds, default=5.0, help="seconds allowed per query (default: 5)")
    p.add_argument("--progress", action="store_true", help="show a progress bar")
    p.add_argument("--no-download", action="store_true", help="WikiSQL: never download the release")
    p.add_argument("--keep-distinct", action="store_true",
                   help="Spider: execute both queries with their DISTINCT (the official default removes it)")
    p.set_defaults(func=_cmd_eval)

    from .train_cli import register_cli as register_train

    register_train(sub)  # t2sql train --config <preset|yaml> [section.key=value ...]

    from .adapt import register_cli as register_adapt

    register_adapt(sub)  # t2sql adapt --db FILE --synthesize-only --out DIR

    p = sub.add_parser("demo", help="train and evaluate a text-to-SQL model end to end on the CPU")
    p.add_argument("overrides", nargs="*", metavar="section.key=value",
                   help="settings to change after the demo's own, e.g. train.max_steps=300")
    p.add_argument("--preset", default="demo",
                   help="preset to train (default: demo, `t2sql presets` lists them; or a YAML/JSON file). "
                        "$T2SQL_PRESET is ignored: the demo has its own size")
    p.add_argument("--tokenizer", choices=("bpe", "gpt2"), default="bpe",
                   help="bpe: chapter 1's BPE trained on the training split (default); gpt2: GPT-2's")
    p.add_argument("--no-mask-prompt", action="store_true", help="train on every token, the prompt too")
    p.add_argument("--val-examples", type=int, default=150,
                   help="validation questions decoded at each evaluation (default: 150)")
    p.add_argument("--test-examples", default="500", metavar="N|all",
                   help="test questions in the final score (default: 500; all: the whole test split)")
    from .generate import BEST_DECODING, DECODERS

    p.add_argument("--decoding", choices=sorted(DECODERS), default=BEST_DECODING,
                   help=f"how the final test SQL is written (default: {BEST_DECODING}); greedy is always scored too")

    p.add_argument("--questions-per-schema", type=int, default=None, metavar="N",
                   help="train on groups of up to N questions about one database that share one reading of its "
                        "schema (default: the preset's data.questions_per_schema; 1: a prompt per question)")
    p.add_argument("--schema-views", type=int, default=None, metavar="K",
                   help="with --questions-per-schema > 1: group the training questions K times, shuffled and "
                        "renamed anew (default: the preset's data.schema_views)")
    p.add_argument("--question-variety", type=_fraction, default=None, metavar="F",
                   help="fraction of training questions reworded by the surface grammar (t2sql_lib.synth.surface; "
                        "default: the preset's data.question_variety; 0: the patterns' wording only)")
    p.add_argument("--spider-questions", type=int, default=0, metavar="N",
                   help="mix N of Spider's human-written training questions into training (Spider from "
                        "$T2SQL_SPIDER_DIR, data/raw/spider or ../shared; default 0)")
    p.add_argument("--value-hints", action="store_true",
                   help="append to each question the database values it names, as stored (t2sql_lib.value_hints), "
                        "in training and scoring")
    p.add_argument("--out", default=None, metavar="DIR", help="output folder (default: outputs/demo)")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: the CPUs available)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_demo)

    p = sub.add_parser("ask", help="write SQL for a question about a SQLite database, run it and print the rows")
    p.add_argument("question", help='the question, in quotes: "How many customers are there?"')
    p.add_argument("--db", required=True, metavar="PATH", help="the SQLite database (opened read-only)")
    p.add_argument("--model", default=None, metavar="DIR",
                   help="a trained model folder (model.safetensors, tokenizer.json, config.json; default: "
                        "outputs/demo, written by `t2sql demo`)")
    p.add_argument("--decoding", choices=tuple(DECODERS), default=BEST_DECODING,
                   help=f"decoding setting (default: {BEST_DECODING}, chapter 6's best in benchmarks/bench_decoding.py)")
    p.add_argument("--max-rows", type=_count, default=20, help="rows printed at most (default: 20)")
    p.set_defaults(func=_cmd_ask)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError) as err:
        print(f"t2sql {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
