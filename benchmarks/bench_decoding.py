"""What SQL-aware decoding is worth: execution accuracy, valid-SQL rate and time per query of each decoder.

One trained model folder (``t2sql demo`` writes one: ``model.safetensors``, ``tokenizer.json``, ``config.json``)
writes SQL for the held-out test databases of the generated data (the databases training never saw) and, when
Spider is present, for Spider's dev set, with each decoding setting of ``t2sql_lib.generate.DECODERS``:

- greedy: the argmax at every step (the baseline, as ``t2sql demo`` scores);
- constrained: greedy with the schema constraint (table and column names only from the prompt's schema);
- beam: beam search (4 beams), top beam;
- execution_guided: 4 beams, the first that runs and returns rows (else the top beam);
- constrained_execution_guided: both;
- constrained_values, constrained_values_execution_guided: the same, with quoted values and numbers copied from the
  question as well (``ValueConstraint``).

``--seen-examples N`` adds new questions about the training databases (the generator's next seed, less the questions
training saw): names the model knows, values it must copy.

Each row gives the gain over greedy in points of execution accuracy and the cost as a ratio of time per query
(decoding plus, for execution-guided decoding, running the candidates). One CPU thread by default: the machine
may be shared, and one thread gives steadier times.

    python benchmarks/bench_decoding.py                                  # outputs/bench_demo/demo or outputs/demo
    python benchmarks/bench_decoding.py --model outputs/demo --examples 100 --spider-examples 0
    python benchmarks/bench_decoding.py --model DIR --validation-examples 300 --examples 0 --spider-examples 0 \
        --decoders greedy constrained_values_execution_guided     # how demo recipes were compared
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import torch

from t2sql_lib.generate import DECODERS, compare_decoding
from t2sql_lib.model_folder import load_model_folder
from t2sql_lib.paths import outputs_dir, spider_dir
from t2sql_lib.sft import SFTDataset, sft_collator
from t2sql_lib.synth import load_generated, new_training_questions
from t2sql_lib.train import evaluate_loss


def default_model() -> Path:
    """The lead's benchmark demo model when present, else ``t2sql demo``'s."""
    bench = outputs_dir() / "bench_demo" / "demo"
    return bench if (bench / "model.safetensors").is_file() else outputs_dir() / "demo"


def print_table(title: str, rows: list[dict]) -> None:
    print(f"\n{title}")
    print(f"{'decoding':<36} {'exec acc':>8} {'valid SQL':>9} {'exact':>7} {'s/query':>8}   vs greedy")
    base = next((r for r in rows if r["decoding"] == "greedy"), rows[0])
    for r in rows:
        gain = 100 * (r["execution_accuracy"] - base["execution_accuracy"])
        valid = 100 * (r["valid_sql"] - base["valid_sql"])
        cost = r["s_per_query"] / base["s_per_query"]
        versus = "" if r is base else f"{gain:+.1f} pts exec acc, {valid:+.1f} pts valid SQL, {cost:.1f}x time"
        print(f"{r['decoding']:<36} {r['execution_accuracy']:>8.1%} {r['valid_sql']:>9.1%} {r['exact_match']:>7.1%} "
              f"{r['s_per_query']:>8.3f}   {versus}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, metavar="DIR",
                        help="trained model folder (default: outputs/bench_demo/demo, else outputs/demo)")
    parser.add_argument("--examples", type=int, default=200, help="held-out test questions (default: 200; 0: none)")
    parser.add_argument("--spider-examples", type=int, default=100,
                        help="Spider dev questions when Spider is present (default: 100; 0: none)")
    parser.add_argument("--validation-examples", type=int, default=0,
                        help="validation questions, with their SQL loss (default: 0, none): compares demo recipes "
                             "without looking at the test databases")
    parser.add_argument("--seen-examples", type=int, default=0,
                        help="new questions about the training databases (default: 0, none)")
    parser.add_argument("--decoders", nargs="+", default=list(DECODERS), choices=list(DECODERS))
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    path = Path(args.model) if args.model else default_model()
    loaded = load_model_folder(path)
    cfg = loaded.model.cfg
    data = loaded.config.get("preset", {}).get("data", {})
    seed = int(loaded.config.get("demo", {}).get("data_seed", 0))
    n_synth = int(data.get("n_synth_examples", 20_000))
    print(f"model {path}: {cfg.n_layers} layers x {cfg.emb_dim} d_model, context {cfg.context_length}, "
          f"vocab {cfg.vocab_size}; {torch.get_num_threads()} thread(s); load average {os.getloadavg()[0]:.2f}")

    def score(title: str, examples: list) -> None:
        """Every decoder on ``examples``: a table under ``title`` and the time it took."""
        start = time.perf_counter()
        rows = compare_decoding(loaded.model, loaded.tokenizer, examples, args.decoders,
                                progress=lambda line: print("  done:", line, flush=True))
        print_table(title, rows)
        print(f"({time.perf_counter() - start:.0f} s)")

    splits = load_generated(n_examples=n_synth, seed=seed)
    if args.validation_examples:
        val = splits["validation"][: args.validation_examples]
        sql_loss = evaluate_loss(loaded.model, SFTDataset(val, loaded.tokenizer, max_length=cfg.context_length),
                                 batch_size=16, collate_fn=sft_collator(loaded.tokenizer))["val_loss"]
        score(f"validation databases {sorted({e.db_id for e in val})} ({len(val)} questions; SQL loss "
              f"{sql_loss:.4f} per token, one prompt per question):", val)
    test = splits["test"][: args.examples]
    if test:
        score(f"held-out test databases {sorted({e.db_id for e in test})} ({len(test)} questions, generated "
              f"data seed {seed}, {n_synth} examples):", test)
    if args.seen_examples:
        seen = new_training_questions(n_synth, seed)[: args.seen_examples]
        score(f"training databases, new questions ({len(seen)}, generator seed {seed + 1}):", seen)
    root = spider_dir()
    if args.spider_examples and root is not None:
        from t2sql_lib.spider import load_spider

        dev = load_spider(root, "dev")[: args.spider_examples]
        score(f"Spider dev (first {len(dev)} questions; prompts longer than the context are cut at the front):", dev)
    elif args.spider_examples:
        print("\nSpider dev: not found (looked for $T2SQL_SPIDER_DIR, data/raw/spider, ../shared/datasets/spider)")


if __name__ == "__main__":
    main()
