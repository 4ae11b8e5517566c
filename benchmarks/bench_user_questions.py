"""Questions in people's words against the generator's own: how a trained model does on each, side by side.

Scores one or more model folders (``t2sql demo`` writes one to ``outputs/demo``) on the hand-written questions of
``data/user_questions`` (validation databases: for decisions; test databases: reported) and on the generator's
test questions about the same databases, greedily and with the default decoder, by executing the SQL. Then the
user-phrased validation and test accuracy by register (``style`` tags). ``--sets`` may add ``spider dev``, a
seeded sample of Spider's human-written dev questions (``--spider-dev N``). Example::

    python benchmarks/bench_user_questions.py --model outputs/demo
    python benchmarks/bench_user_questions.py --model outputs/a outputs/b --decoding greedy
    python benchmarks/bench_user_questions.py --sets "template validation,template test" --join-keys both

``--join-keys both`` scores the decoder with and without chapter 6's join-key rule (``ON A.x = B.y`` only on
declared keys; off by default, since Spider's gold queries also join on undeclared ones).
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import time
from collections import defaultdict

import torch

from t2sql_lib.evaluate import evaluate
from t2sql_lib.generate import BEST_DECODING, DECODERS, DecodingSettings, decode_sql
from t2sql_lib.model_folder import load_model_folder
from t2sql_lib.sft import evaluate_model
from t2sql_lib.synth import load_generated
from t2sql_lib.user_questions import load_user_questions
from t2sql_lib.value_hints import add_value_hints


def score(loaded, examples, decoding: DecodingSettings):
    """The execution report of ``loaded``'s SQL for ``examples`` with ``decoding``."""
    if decoding.name == "greedy":
        return evaluate_model(loaded.model, loaded.tokenizer, examples, max_new_tokens=128, batch_size=32)
    return evaluate(examples, decode_sql(loaded.model, loaded.tokenizer, examples, decoding, batch_size=32))


def decoders_for(name: str, join_keys: str) -> dict[str, DecodingSettings]:
    """Greedy and ``name`` (with the join-key rule ``off``, ``on`` or ``both``), by column label."""
    chosen = {"greedy": DECODERS["greedy"]}
    if name == "greedy":
        return chosen
    if name not in DECODERS:
        raise SystemExit(f"--decoding {name!r}: expected one of {sorted(DECODERS)}")
    base = dataclasses.replace(DECODERS[name], max_new_tokens=128)
    for rule in (["off", "on"] if join_keys == "both" else [join_keys]):
        label = name if rule == "off" else f"{name} +join keys"
        chosen[label] = dataclasses.replace(base, join_keys=rule == "on")
    return chosen


def by_style(report, examples) -> dict[str, tuple[int, int]]:
    """``style -> (right, questions)`` over the report's records (in the order of ``examples``)."""
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for record, example in zip(report.records, examples, strict=True):
        for style in example.meta.get("style", []):
            counts[style][0] += bool(record.get("execution_accuracy"))
            counts[style][1] += 1
    return {k: (v[0], v[1]) for k, v in sorted(counts.items())}


def spider_dev_sample(n: int) -> list:
    """A seeded sample of ``n`` Spider dev questions (human-written, unseen databases); needs a Spider folder."""
    from t2sql_lib.paths import spider_dir
    from t2sql_lib.spider import load_spider

    if spider_dir() is None:
        raise SystemExit("--sets 'spider dev': no Spider folder ($T2SQL_SPIDER_DIR, data/raw/spider, ../shared)")
    dev = list(load_spider(spider_dir(), "dev", hardness=False))
    random.Random(0).shuffle(dev)
    return dev[:n]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", nargs="+", default=["outputs/demo"], help="model folders (default: outputs/demo)")
    parser.add_argument("--decoding", default=BEST_DECODING, help=f"the decoder beside greedy (default: {BEST_DECODING})")
    parser.add_argument("--template-questions", type=int, default=500,
                        help="generator questions scored per template set (the first N; default 500)")
    parser.add_argument("--sets", default="user validation,user test,template test",
                        help="which question sets, comma-separated (default: all three)")
    parser.add_argument("--spider-dev", type=int, default=200,
                        help="with --sets 'spider dev': a seeded sample of this many Spider dev questions (default 200)")
    parser.add_argument("--join-keys", choices=["off", "on", "both"], default="off",
                        help="chapter 6's join-key rule in the decoder beside greedy (default: off, as t2sql ask)")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    wanted = [s.strip() for s in args.sets.split(",")]
    loaders = {"user validation": lambda: load_user_questions("validation"),
               "user test": lambda: load_user_questions("test"),
               "template test": lambda: load_generated(n_examples=34104, seed=0, splits=["test"])["test"][
                   : args.template_questions],
               "template validation": lambda: load_generated(n_examples=34104, seed=0, splits=["validation"])[
                   "validation"][: args.template_questions]}
    loaders["spider dev"] = lambda: spider_dev_sample(args.spider_dev)
    unknown = [w for w in wanted if w not in loaders]
    if unknown:
        parser.error(f"--sets: unknown {unknown}; expected some of {sorted(loaders)}")
    sets = {name: loaders[name]() for name in wanted}
    decoders = decoders_for(args.decoding, args.join_keys)
    for path in args.model:
        loaded = load_model_folder(path)
        hints = bool(loaded.config.get("demo", {}).get("value_hints"))
        print(f"\n== {path} ({'with' if hints else 'without'} value hints) ==")
        print(f"{'questions':<16} {'n':>4} " + " ".join(f"{d[:46]:>46}" for d in decoders) + "  valid SQL")
        styles = {}
        for name, examples in sets.items():
            start = time.perf_counter()
            if hints:
                examples = add_value_hints(examples)
            reports = [score(loaded, examples, d) for d in decoders.values()]
            accs = [r.summary()["all"]["execution_accuracy"] for r in reports]
            valid = reports[-1].summary()["all"]["valid_sql"]
            print(f"{name:<16} {len(examples):>4} " + " ".join(f"{a:>46.1%}" for a in accs)
                  + f"  {valid:>9.1%}  ({time.perf_counter() - start:.0f} s)")
            if name.startswith("user"):
                styles[name] = by_style(reports[-1], examples)
        if not styles:
            continue
        print(f"\nuser-phrased questions by register ({list(decoders)[-1]}): right / questions")
        names = sorted({s for v in styles.values() for s in v})
        for s in names:
            cells = [f"{v[s][0]:>3}/{v[s][1]:<3} {v[s][0] / v[s][1]:>6.1%}" if s in v else " " * 14
                     for v in styles.values()]
            print(f"  {s:<14} " + "   ".join(cells))


if __name__ == "__main__":
    main()
