"""Instruction tuning of a chapter-5-size model: full fine-tuning vs LoRA, per task, against the chapter-5 model.

Run: ``.venv/bin/python benchmarks/bench_instruct.py --base outputs/bench_demo/demo`` (a folder ``run_demo`` wrote:
model.safetensors, tokenizer.json, config.json). It builds the multi-task instruction data from the same generated
splits the base model was trained on (``t2sql_lib.instruct``), instruction-tunes the base model twice at the same
step budget and batches, once every weight (full fine-tuning) and once with LoRA adapters (``t2sql_lib.lora``, merged
after training), and scores both, with the chapter-5 model, on two evaluation sets: the held-out test databases
(schemas never seen in training), and new questions on the training schemas (``load_generated`` with the next seed:
other rows, other questions; questions the base model trained on are left out). It prints, for each set:

- the per-task table: text-to-SQL and repair execution accuracy, explanation checks (tables and columns named),
  unanswerable refusals, the teacher-forced loss on the reference responses, and each model's trainable parameters;
- the targets of the issue: LoRA's text-to-SQL execution accuracy at least 90% of full fine-tuning's with under 5% of
  its trainable parameters; instruction tuning no more than 2 points below the chapter-5 model on text-to-SQL.

The load average is printed before and after, since other processes on the machine slow the run down.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import os
import time
import warnings
from pathlib import Path

import pandas as pd
import torch
from safetensors.torch import load_model

from t2sql_lib.config import TrainSettings
from t2sql_lib.instruct import (
    HEADLINE,
    build_instruction_data,
    evaluate_instruct,
    instruction_tune,
    response_loss,
    summarize,
    task_counts,
)
from t2sql_lib.lora import DEFAULT_TARGETS, apply_lora, count_parameters, merge_lora
from t2sql_lib.model import GPTConfig, GPTModel
from t2sql_lib.paths import outputs_dir
from t2sql_lib.sft import evaluate_model
from t2sql_lib.synth import load_generated
from t2sql_lib.tokenizer import BPETokenizer

TEST_MIX = {"text_to_sql": 1.0, "explain": 0.5, "repair": 0.5, "unanswerable": 0.3}


def _load() -> str:
    one, five, _ = os.getloadavg()
    return f"{one:.2f} (1 min) / {five:.2f} (5 min)"


def load_base(folder: Path) -> tuple[GPTModel, BPETokenizer, dict]:
    """The model, tokenizer and settings a demo run saved."""
    settings = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    tokenizer = BPETokenizer.load(folder / "tokenizer.json")
    model = GPTModel(GPTConfig(**settings["model"]))
    load_model(model, str(folder / "model.safetensors"))
    return model.eval(), tokenizer, settings


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--base", type=Path, default=outputs_dir() / "bench_demo" / "demo", help="a run_demo output folder")
    p.add_argument("--steps", type=int, default=300, help="optimizer steps of each fine-tuning (the same for both)")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--lr-full", type=float, default=5e-4)
    p.add_argument("--lr-lora", type=float, default=3e-3)
    p.add_argument("--rank", type=int, default=4)
    p.add_argument("--alpha", type=float, default=8.0)
    p.add_argument("--targets", default=",".join(DEFAULT_TARGETS), help="comma-separated layer-name suffixes")
    p.add_argument("--test-examples", type=int, default=150, help="test-database questions the tasks are built from")
    p.add_argument("--seen-examples", type=int, default=150,
                   help="new questions on the training schemas (another generator seed: other rows, other questions; "
                        "questions the base model trained on are left out); 0 to skip")
    p.add_argument("--max-new-tokens", type=int, default=128)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--out", type=Path, default=outputs_dir() / "bench_instruct")
    args = p.parse_args(argv)

    torch.set_num_threads(args.threads or max(1, len(os.sched_getaffinity(0))))
    t_start = time.perf_counter()
    print(f"load average at start: {_load()}")
    base, tokenizer, saved = load_base(args.base)
    n_examples = saved["preset"]["data"]["n_synth_examples"]
    demo = saved.get("demo", {})
    seed = demo.get("data_seed", 0)
    splits = load_generated(n_examples=n_examples, seed=seed)
    train_schemas = list({e.db_id: e.schema for e in splits["train"]}.values())
    train_items = build_instruction_data(splits["train"], seed=0, rename_rate=demo.get("rename_rate", 0.5))
    eval_sets = {"unseen databases": build_instruction_data(splits["test"][: args.test_examples], mix=TEST_MIX, seed=1,
                                                            other_schemas=train_schemas)}
    if args.seen_examples:
        trained_on = {e.question for e in splits["train"]}
        fresh = [e for e in load_generated(n_examples=n_examples, seed=seed + 1)["train"] if e.question not in trained_on]
        eval_sets["seen schemas, new questions"] = build_instruction_data(
            fresh[: args.seen_examples], mix=TEST_MIX, seed=2,
            other_schemas=list({e.db_id: e.schema for e in splits["test"] + splits["validation"]}.values()))
    print(f"base: {args.base} ({base.num_parameters():,} parameters, context {base.cfg.context_length}); "
          f"data: {n_examples} generated examples")
    print(f"train items: {task_counts(train_items)}")
    for name, items in eval_sets.items():
        print(f"eval items, {name}: {task_counts(items)} on {sorted({i.source.db_id for i in items})}")

    settings = TrainSettings(batch_size=args.batch_size, max_steps=args.steps, warmup_steps=max(1, args.steps // 10),
                             eval_every=0, weight_decay=0.1, seed=0)
    results: dict[str, dict[str, dict[str, float]]] = {name: {} for name in eval_sets}
    for set_name, items in eval_sets.items():
        t0 = time.perf_counter()
        t2s = [i.source for i in items if i.task == "text_to_sql"]
        ex = evaluate_model(base, tokenizer, t2s, max_new_tokens=args.max_new_tokens).execution_accuracy
        results[set_name]["chapter 5 (SQL only)"] = {"text_to_sql EX": ex}
        print(f"chapter-5 model, its own prompt format, {set_name}: text-to-SQL execution accuracy {ex:.3f} "
              f"({time.perf_counter() - t0:.0f} s)")
    params: dict[str, int] = {"chapter 5 (SQL only)": count_parameters(base)["trainable"]}
    targets = tuple(t for t in args.targets.split(",") if t)
    model_names = ["full fine-tuning", f"LoRA r={args.rank}"]
    for name in model_names:
        model = copy.deepcopy(base).train()
        lr = args.lr_full
        if name.startswith("LoRA"):
            apply_lora(model, rank=args.rank, alpha=args.alpha, targets=targets)
            lr = args.lr_lora
        params[name] = count_parameters(model)["trainable"]
        print(f"\n=== {name}: {params[name]:,} trainable parameters, lr {lr:g}, {args.steps} steps of "
              f"{args.batch_size} (load {_load()}) ===")
        t0 = time.perf_counter()
        run = instruction_tune(model, tokenizer, train_items, out_dir=args.out / name.split()[0].lower(),
                               settings=dataclasses.replace(settings, learning_rate=lr))
        train_s = time.perf_counter() - t0
        merged = merge_lora(model)
        model.eval()
        print(f"trained in {train_s:.0f} s (loss {run.losses[0]:.3f} -> {run.losses[-1]:.3f}); merged {merged} LoRA layers")
        for set_name, items in eval_sets.items():
            t0 = time.perf_counter()
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                records = evaluate_instruct(model, tokenizer, items, max_new_tokens=args.max_new_tokens)
            results[set_name][name] = {**summarize(records),
                                       "response loss": response_loss(model, tokenizer, items)["all"]}
            records.to_json(args.out / f"records_{name.split()[0].lower()}_{set_name.split()[0]}.jsonl",
                            orient="records", lines=True)
            cut = "; ".join(str(w.message) for w in caught if "cut" in str(w.message))
            print(f"evaluated on {set_name} in {time.perf_counter() - t0:.0f} s" + (f" ({cut})" if cut else ""))

    share = params[model_names[1]] / params[model_names[0]]
    summary = {}
    for set_name, by_model in results.items():
        table = pd.DataFrame(by_model).T[[*HEADLINE, "response loss"]]
        table["trainable params"] = pd.Series(params)
        n_items = len(eval_sets[set_name])
        print(f"\n--- {set_name}: {n_items} items, {task_counts(eval_sets[set_name])} ---")
        print(table.to_string(float_format=lambda v: f"{v:.3f}"))
        base_ex = by_model["chapter 5 (SQL only)"]["text_to_sql EX"]
        full_ex, lora_ex = (by_model[n]["text_to_sql EX"] for n in model_names)
        ratio = lora_ex / full_ex if full_ex > 0 else float("nan")
        print(f"LoRA / full text-to-SQL execution accuracy: {lora_ex:.3f} / {full_ex:.3f} = {ratio:.3f} "
              f"(target >= 0.90: {'met' if ratio >= 0.9 else 'NOT met'})")
        for name in model_names:
            diff = 100 * (by_model[name]["text_to_sql EX"] - base_ex)
            print(f"{name} vs chapter 5 on text-to-SQL: {diff:+.1f} points "
                  f"(target >= -2: {'met' if diff >= -2 else 'NOT met'})")
        summary[set_name] = table.reset_index().to_dict(orient="records")
    print(f"\ntrainable parameters: full {params[model_names[0]]:,}, LoRA {params[model_names[1]]:,} = {share:.2%} of "
          f"full (target < 5%: {'met' if share < 0.05 else 'NOT met'})")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps({"tables": summary, "lora_share": share,
                                                       "args": {k: str(v) for k, v in vars(args).items()}},
                                                      indent=1) + "\n", encoding="utf-8")
    print(f"\nwall time {time.perf_counter() - t_start:.0f} s; load average at end: {_load()}; outputs in {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
