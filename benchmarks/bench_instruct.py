"""Instruction tuning of a chapter-5-size model: full fine-tuning vs LoRA, per task, against the chapter-5 model.

Run: ``.venv/bin/python benchmarks/bench_instruct.py --base outputs/bench_demo/demo`` (a folder ``run_demo`` wrote:
model.safetensors, tokenizer.json, config.json). It builds the multi-task instruction data from the same generated
splits the base model was trained on (``t2sql_lib.instruct``), instruction-tunes the base model twice on the same
batches for the same number of steps, once every weight (full fine-tuning) and once with LoRA adapters
(``t2sql_lib.lora``, merged after training), and scores both, with the chapter-5 model, on two evaluation sets: the
held-out test databases (schemas never seen in training), and new questions on the training schemas
(``load_generated`` with the next seed: other rows, other questions; questions the base model trained on are left
out). It prints, for each set:

- the per-task table: text-to-SQL and repair execution accuracy, explanation checks (tables and columns named),
  unanswerable refusals, the teacher-forced loss on the reference responses, and each model's trainable parameters;
- the targets of the issue: LoRA's text-to-SQL execution accuracy at least 90% of full fine-tuning's with under 5% of
  its trainable parameters; instruction tuning no more than 2 points below the chapter-5 model on text-to-SQL;
- the noise: each accuracy's binomial standard error, and for each comparison the questions only one of the two
  models gets right and the paired standard error of the difference (the same questions for every model).

The training mix is the chapter's ``DEFAULT_MIX``, which replays each chapter-5 text-to-SQL example three times; ``--mix``
replaces some of its weights (``--mix text_to_sql=1`` is the mix without the replay: measured, 300 steps of it cost
4.3 points of text-to-SQL accuracy, with the replay 1.4; see benchmarks/RESULTS.md). ``--test-examples 0`` skips the
held-out databases, where every model scores about 0. ``--lora-steps`` gives LoRA a step budget of its own.
``--models lora`` (or ``full``) runs one fine-tuning only, for sweeps of one recipe; the comparisons between the two
are then not printed. ``--ema-decay`` evaluates an exponential moving average of each fine-tuning's weights (the
engine's ``train.ema_decay``).

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
    DEFAULT_MIX,
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
from t2sql_lib.synth import load_generated, new_training_questions
from t2sql_lib.tokenizer import BPETokenizer

TEST_MIX = {"text_to_sql": 1.0, "explain": 0.5, "repair": 0.5, "unanswerable": 0.3}


def _load() -> str:
    one, five, _ = os.getloadavg()
    return f"{one:.2f} (1 min) / {five:.2f} (5 min)"


def parse_mix(text: str) -> dict[str, float]:
    """``"text_to_sql=2,repair=0.5"``: the chapter's ``DEFAULT_MIX`` with those tasks' weights replaced."""
    mix = dict(DEFAULT_MIX)
    for part in filter(None, (p.strip() for p in text.split(","))):
        task, _, weight = part.partition("=")
        mix[task.strip()] = float(weight)
    return mix


def paired(right_a: list[bool], right_b: list[bool]) -> tuple[int, int, float]:
    """Two models' right/wrong answers to the same questions: ``(only a right, only b right, standard error of the
    difference in accuracy b - a)``, the paired (McNemar-style) error, smaller than two independent binomial errors."""
    n = len(right_a)
    only_a = sum(a and not b for a, b in zip(right_a, right_b))
    only_b = sum(b and not a for a, b in zip(right_a, right_b))
    var = (only_a + only_b - (only_b - only_a) ** 2 / n) / n**2 if n else float("nan")
    return only_a, only_b, max(var, 0.0) ** 0.5


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
    p.add_argument("--steps", type=int, default=1200,
                   help="optimizer steps of each fine-tuning (on the ninth session's demo model 600 steps left LoRA "
                        "2.6-4.5 points of text-to-SQL below chapter 5, and full fine-tuning 2.6-3.5 points below "
                        "its own 1,200)")
    p.add_argument("--lora-steps", type=int, default=None, help="LoRA's optimizer steps, if not --steps")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--lr-full", type=float, default=5e-4)
    p.add_argument("--lr-lora", type=float, default=1e-2)
    p.add_argument("--rank", type=int, default=4)
    p.add_argument("--alpha", type=float, default=8.0)
    p.add_argument("--targets", default=",".join(DEFAULT_TARGETS), help="comma-separated layer-name suffixes")
    p.add_argument("--ema-decay", type=float, default=0.0,
                   help="evaluate an exponential moving average of the weights (the engine's train.ema_decay; 0: off)")
    p.add_argument("--models", default="full,lora",
                   help="which fine-tunings to run: full, lora or both (the comparisons need both)")
    p.add_argument("--mix", default="",
                   help="task weights replacing those of the chapter's DEFAULT_MIX (items per training example), e.g. "
                        "text_to_sql=1 for no replay of chapter 5's data (default: the chapter's mix)")
    p.add_argument("--test-examples", type=int, default=150,
                   help="test-database questions the tasks are built from; 0 to skip (every model scores ~0 there)")
    p.add_argument("--seen-examples", type=int, default=1000,
                   help="new questions on the training schemas (another generator seed: other rows, other questions; "
                        "questions the base model trained on are left out); 0 to skip")
    p.add_argument("--max-new-tokens", type=int, default=128)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--seed", type=int, default=0,
                   help="training seed: which items the instruction data samples and renames, and the batch order")
    p.add_argument("--out", type=Path, default=outputs_dir() / "bench_instruct")
    args = p.parse_args(argv)
    if args.steps < 1 or (args.lora_steps is not None and args.lora_steps < 1):
        p.error(f"--steps {args.steps} / --lora-steps {args.lora_steps}: expected at least 1 step")

    torch.set_num_threads(args.threads or max(1, len(os.sched_getaffinity(0))))
    t_start = time.perf_counter()
    print(f"load average at start: {_load()}")
    base, tokenizer, saved = load_base(args.base)
    n_examples = saved["preset"]["data"]["n_synth_examples"]
    demo = saved.get("demo", {})
    seed = demo.get("data_seed", 0)
    splits = load_generated(n_examples=n_examples, seed=seed)
    train_schemas = list({e.db_id: e.schema for e in splits["train"]}.values())
    mix = parse_mix(args.mix)
    train_items = build_instruction_data(splits["train"], mix=mix, seed=args.seed,
                                         rename_rate=demo.get("rename_rate", 0.5))
    eval_sets = {}
    if args.test_examples:
        eval_sets["unseen databases"] = build_instruction_data(splits["test"][: args.test_examples], mix=TEST_MIX,
                                                               seed=1, other_schemas=train_schemas)
    if args.seen_examples:
        fresh = new_training_questions(n_examples, seed)
        eval_sets["seen schemas, new questions"] = build_instruction_data(
            fresh[: args.seen_examples], mix=TEST_MIX, seed=2,
            other_schemas=list({e.db_id: e.schema for e in splits["test"] + splits["validation"]}.values()))
    print(f"base: {args.base} ({base.num_parameters():,} parameters, context {base.cfg.context_length}); "
          f"data: {n_examples} generated examples")
    print(f"train mix: {mix}; train items: {task_counts(train_items)}")
    for name, items in eval_sets.items():
        print(f"eval items, {name}: {task_counts(items)} on {sorted({i.source.db_id for i in items})}")

    settings = TrainSettings(batch_size=args.batch_size, eval_every=0, weight_decay=0.1, seed=args.seed,
                             ema_decay=args.ema_decay)
    results: dict[str, dict[str, dict[str, float]]] = {name: {} for name in eval_sets}
    right: dict[str, dict[str, list[bool]]] = {name: {} for name in eval_sets}  # per text-to-SQL question, in order
    args.out.mkdir(parents=True, exist_ok=True)
    for set_name, items in eval_sets.items():
        t0 = time.perf_counter()
        t2s = [i.source for i in items if i.task == "text_to_sql"]
        report = evaluate_model(base, tokenizer, t2s, max_new_tokens=args.max_new_tokens)
        ex = report.execution_accuracy
        results[set_name]["chapter 5 (SQL only)"] = {"text_to_sql EX": ex}
        right[set_name]["chapter 5 (SQL only)"] = [bool(r.get("execution_accuracy")) for r in report.records]
        report.per_example().to_json(args.out / f"records_base_{set_name.split()[0]}.jsonl", orient="records",
                                     lines=True)
        print(f"chapter-5 model, its own prompt format, {set_name}: text-to-SQL execution accuracy {ex:.3f} "
              f"({time.perf_counter() - t0:.0f} s)")
    params: dict[str, int] = {"chapter 5 (SQL only)": count_parameters(base)["trainable"]}
    targets = tuple(t for t in args.targets.split(",") if t)
    model_names = ["full fine-tuning", f"LoRA r={args.rank}"]
    chosen = {m.strip() for m in args.models.split(",") if m.strip()}
    if not chosen or chosen - {"full", "lora"}:
        p.error(f"--models {args.models!r}: expected full, lora or full,lora")
    for name in model_names:
        if name.split()[0].lower() not in chosen:
            continue
        model = copy.deepcopy(base).train()
        lr, steps = args.lr_full, args.steps
        if name.startswith("LoRA"):
            apply_lora(model, rank=args.rank, alpha=args.alpha, targets=targets)
            lr, steps = args.lr_lora, args.steps if args.lora_steps is None else args.lora_steps
        params[name] = count_parameters(model)["trainable"]
        print(f"\n=== {name}: {params[name]:,} trainable parameters, lr {lr:g}, {steps} steps of "
              f"{args.batch_size} (load {_load()}) ===")
        t0 = time.perf_counter()
        run = instruction_tune(model, tokenizer, train_items, out_dir=args.out / name.split()[0].lower(),
                               settings=dataclasses.replace(settings, learning_rate=lr, max_steps=steps,
                                                            warmup_steps=max(1, steps // 10)))
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
            right[set_name][name] = [bool(x) for x in records.loc[records["task"] == "text_to_sql", "execution_accuracy"]]
            records.to_json(args.out / f"records_{name.split()[0].lower()}_{set_name.split()[0]}.jsonl",
                            orient="records", lines=True)
            cut = "; ".join(str(w.message) for w in caught if "cut" in str(w.message))
            print(f"evaluated on {set_name} in {time.perf_counter() - t0:.0f} s" + (f" ({cut})" if cut else ""))

    model_names = [n for n in model_names if n in params]
    both = len(model_names) == 2
    lora_ran = model_names[-1].startswith("LoRA")
    share = params[model_names[-1]] / params["chapter 5 (SQL only)"] if lora_ran else None  # of every weight
    summary = {}
    for set_name, by_model in results.items():
        table = pd.DataFrame(by_model).T[[*HEADLINE, "response loss"]]
        table["trainable params"] = pd.Series(params)
        n_items = len(eval_sets[set_name])
        print(f"\n--- {set_name}: {n_items} items, {task_counts(eval_sets[set_name])} ---")
        print(table.to_string(float_format=lambda v: f"{v:.3f}"))
        base_ex = by_model["chapter 5 (SQL only)"]["text_to_sql EX"]
        n_t2s = len(right[set_name]["chapter 5 (SQL only)"])
        noise = ", ".join(f"{n} {100 * (p := by_model[n]['text_to_sql EX']):.1f} +- {100 * (p * (1 - p) / n_t2s) ** 0.5:.1f}"
                          for n in by_model)
        print(f"text-to-SQL questions: {n_t2s}; execution accuracy % +- one binomial standard error: {noise}")
        if both:
            full_ex, lora_ex = (by_model[n]["text_to_sql EX"] for n in model_names)
            ratio = lora_ex / full_ex if full_ex > 0 else float("nan")
            only_full, only_lora, se = paired(right[set_name][model_names[0]], right[set_name][model_names[1]])
            print(f"LoRA / full text-to-SQL execution accuracy: {lora_ex:.3f} / {full_ex:.3f} = {ratio:.3f} "
                  f"(target >= 0.90: {'met' if ratio >= 0.9 else 'NOT met'}; right only for full {only_full}, only "
                  f"for LoRA {only_lora}; difference {100 * (lora_ex - full_ex):+.1f} +- {100 * se:.1f} points, paired)")
        for name in model_names:
            diff = 100 * (by_model[name]["text_to_sql EX"] - base_ex)
            only_base, only_model, se = paired(right[set_name]["chapter 5 (SQL only)"], right[set_name][name])
            print(f"{name} vs chapter 5 on text-to-SQL: {diff:+.1f} +- {100 * se:.1f} points, paired "
                  f"(right only for chapter 5 {only_base}, only for {name} {only_model}; "
                  f"target >= -2: {'met' if diff >= -2 else 'NOT met'})")
        summary[set_name] = table.reset_index().to_dict(orient="records")
    if lora_ran:
        print(f"\ntrainable parameters: {model_names[-1]} {params[model_names[-1]]:,} = {share:.2%} of the model's "
              f"{params['chapter 5 (SQL only)']:,} (target < 5%: {'met' if share < 0.05 else 'NOT met'})")
    (args.out / "results.json").write_text(json.dumps({"tables": summary, "lora_share": share, "train_mix": mix,
                                                       "args": {k: str(v) for k, v in vars(args).items()}},
                                                      indent=1) + "\n", encoding="utf-8")
    print(f"\nwall time {time.perf_counter() - t_start:.0f} s; load average at end: {_load()}; outputs in {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
