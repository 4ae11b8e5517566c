"""Spider quality: fine-tune a GPT from scratch on Spider train, score it on Spider dev by executing its SQL.

Run: ``.venv/bin/python benchmarks/bench_spider_quality.py [--preset laptop] [--max-minutes 7] [--dev-examples N]
[section.key=value ...]``. The same pieces as the CPU demo (``t2sql_lib.demo``): chapter 1's BPE trained on the
training prompts and SQL (``sft.build_tokenizer``), ``SFTDataset`` with the prompt masked out of the loss,
``LengthGroupedBatches``, the engine (``t2sql_lib.train.train``) and ``evaluate_model``, which decodes greedily
and scores with the project's executor and metrics (Spider's official rules). Printed: Spider dev execution accuracy,
exact set match and valid-SQL rate, overall and per Spider hardness bucket, the steps trained and the wall time.

- Data: Spider's ``train`` split (a seeded sample of ``data.max_examples_per_dataset`` questions when the preset
  caps it) from ``--spider`` or the folder ``paths.spider_dir()`` finds (``$T2SQL_SPIDER_DIR``, ``data/raw/spider``,
  the course's ``shared/datasets/spider``); a seeded sample of ``--dev-examples`` questions of ``dev`` (all by default).
  Spider's train and dev databases do not overlap, so dev measures what transfers to unseen schemas.
- Length: Spider's schemas are long. A training sequence longer than the context is cut at the front of the
  prompt (the start of the schema, ``too_long="truncate_prompt"``): the question and the SQL stay whole; it is
  dropped only when the question and SQL alone do not fit. At decoding, a prompt that leaves fewer than
  ``--max-new-tokens`` positions is cut the same way. Both counts are printed.
- Budget: ``--max-minutes M`` times a few steps of the engine on a throw-away copy of the model first and sets
  ``train.max_steps`` so that training takes about ``M`` minutes (the learning-rate schedule then ends where
  training ends); an explicit ``train.max_steps=...`` override wins. Data, tokenizer, the timing steps and the
  dev evaluation come on top of ``M``.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import os
import random
import statistics
import tempfile
import time
import warnings
from pathlib import Path

import torch

from t2sql_lib.config import get_preset
from t2sql_lib.model import GPTModel
from t2sql_lib.model_folder import tokenizer_json
from t2sql_lib.paths import outputs_dir
from t2sql_lib.pipeline import available_cpus, examples_table
from t2sql_lib.sft import (
    LengthGroupedBatches,
    SFTDataset,
    augment_with_renaming,
    build_tokenizer,
    evaluate_model,
    sft_collator,
)
from t2sql_lib.spider import load_spider, resolve_spider_root
from t2sql_lib.train import TRAIN_LOG, RunOptions, TrainTask, read_csv_log, train

CALIBRATION_STEPS = 6  # engine steps timed (after one warm-up step) to turn --max-minutes into a step count


def _load() -> str:
    one, five, _ = os.getloadavg()
    return f"{one:.2f} (1 min) / {five:.2f} (5 min)"


def steps_for_budget(model: torch.nn.Module, data: LengthGroupedBatches, settings, collate, minutes: float) -> int:
    """How many engine steps of ``settings`` fit in ``minutes``, timed on a copy of ``model`` (left untouched)."""
    probe = copy.deepcopy(model)
    n = CALIBRATION_STEPS + 1
    probe_settings = dataclasses.replace(settings, max_steps=n, eval_every=0, warmup_steps=1)
    with tempfile.TemporaryDirectory() as folder:
        train(probe, data, probe_settings, TrainTask(collate_fn=collate),
              RunOptions(out_dir=folder, device="cpu", progress=False, verbose=False))
        log = read_csv_log(Path(folder) / TRAIN_LOG)[1:]  # the first step pays for start-up: left out
    del probe
    # the log's per-step throughput, at the length of an average batch (batches are grouped by length)
    tokens_per_s = statistics.median(row["tokens_per_s"] for row in log)
    lengths = [len(seq) - 1 for seq in data.dataset.sequences]
    tokens_per_step = sum(len(b) * max(lengths[j] for j in b) for b in data.batches) / len(data.batches)
    seconds_per_step = tokens_per_step * settings.grad_accum_steps / tokens_per_s
    return max(1, int(minutes * 60 / seconds_per_step))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("overrides", nargs="*", metavar="section.key=value", help="settings applied over the preset")
    parser.add_argument("--preset", default="laptop", help="named preset (default: laptop, the CPU preset)")
    parser.add_argument("--spider", default=None, metavar="DIR",
                        help="Spider folder (default: the one t2sql_lib.paths.spider_dir finds)")
    parser.add_argument("--max-minutes", type=float, default=None,
                        help="training budget in minutes (sets train.max_steps from a timing of a few steps)")
    parser.add_argument("--dev-examples", type=int, default=None, help="score a seeded sample of N dev questions (default: all)")
    parser.add_argument("--max-new-tokens", type=int, default=128, help="longest SQL decoded, in tokens")
    parser.add_argument("--rename-rate", type=float, default=0.0,
                        help="share of training questions whose schema words are renamed (sft.augment_with_renaming)")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)

    t_start = time.perf_counter()
    threads = args.threads or available_cpus()
    torch.set_num_threads(threads)
    preset = get_preset(args.preset).with_overrides(list(args.overrides))
    explicit_steps = any(o.startswith("train.max_steps=") for o in args.overrides)
    root = resolve_spider_root(args.spider)
    print(f"Spider from {root}; preset {preset.name}{' + ' + ' '.join(args.overrides) if args.overrides else ''}; "
          f"{threads} thread(s); load average {_load()}")

    # 1. Data: a seeded sample of Spider train, the first dev questions
    spider_train = load_spider(root, "train", hardness=False)
    spider_dev = load_spider(root, "dev")
    cap = preset.data.max_examples_per_dataset
    train_ex = list(spider_train)
    if cap is not None and cap < len(train_ex):
        train_ex = random.Random(preset.train.seed).sample(train_ex, cap)
    dev_ex = list(spider_dev)
    if args.dev_examples and args.dev_examples < len(dev_ex):  # a seeded sample, in file order: every database
        keep = set(random.Random(preset.train.seed).sample(range(len(dev_ex)), args.dev_examples))
        dev_ex = [ex for i, ex in enumerate(dev_ex) if i in keep]
    print(f"train: {len(train_ex)} of {len(spider_train)} questions on {len({e.db_id for e in train_ex})} databases; "
          f"dev: {len(dev_ex)} of {len(spider_dev)} questions on {len({e.db_id for e in dev_ex})} databases "
          f"({spider_dev.n_skipped} dev questions have no database file)")

    # 2. Tokenizer, learned from the training prompts and SQL only
    t0 = time.perf_counter()
    tokenizer = build_tokenizer("bpe", train_ex, preset.data.tokenizer_vocab_size)
    print(f"tokenizer: BPE, {tokenizer.n_vocab} ids ({time.perf_counter() - t0:.0f} s)")

    # 3. SFT data: prompt masked out of the loss; too-long prompts cut at the front of the schema
    context = preset.model.context_length
    train_aug = augment_with_renaming(train_ex, args.rename_rate, seed=preset.train.seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SFTDataset warns when it cuts; the counts are printed below
        train_ds = SFTDataset(train_aug, tokenizer, max_length=context, mask_prompt=True, too_long="truncate_prompt")
    print(f"train sequences (context {context}): {train_ds.stats.summary()}; "
          f"{train_ds.n_scored_tokens():,} scored (SQL) tokens per epoch")
    s = preset.train
    batches = LengthGroupedBatches(train_ds, s.batch_size, seed=s.seed)
    collate = sft_collator(tokenizer)
    engine_settings = dataclasses.replace(s, batch_size=1, eval_every=0, early_stopping_patience=0)

    # 4. A GPT from random weights, sized by the preset; the vocabulary is the tokenizer's
    model_settings = dataclasses.replace(preset.model, vocab_size=tokenizer.n_vocab)
    torch.manual_seed(s.seed)
    model = GPTModel(model_settings)
    if args.max_minutes is not None and not explicit_steps:
        steps = steps_for_budget(model, batches, engine_settings, collate, args.max_minutes)
        engine_settings = dataclasses.replace(engine_settings, max_steps=steps,
                                              warmup_steps=min(s.warmup_steps, max(steps // 10, 1)))
        print(f"budget {args.max_minutes:g} min of training: {steps} steps (timed on {CALIBRATION_STEPS} steps)")
    print(f"model: {model_settings.n_layers} layers x {model_settings.emb_dim} d_model, "
          f"{model.num_parameters() / 1e6:.2f}M parameters; {engine_settings.max_steps} steps of {s.batch_size} "
          f"sequences ({batches.padding_fraction():.0%} padding), lr {s.learning_rate}, "
          f"{engine_settings.max_steps * s.batch_size / len(train_ds):.2f} epochs")

    # 5. Train
    out = outputs_dir() / "bench_spider_quality"
    t0 = time.perf_counter()
    options = RunOptions(out_dir=out, config={**preset.to_dict(), "model": dataclasses.asdict(model_settings)},
                         tokenizer=tokenizer_json(tokenizer), device="cpu", progress=not args.no_progress, verbose=False)
    result = train(model, batches, engine_settings, TrainTask(collate_fn=collate), options)
    train_time = time.perf_counter() - t0
    print(f"trained {result.step} steps in {train_time:.0f} s ({result.tokens_per_s:,.0f} tokens/s); training loss "
          f"{sum(result.losses[:20]) / len(result.losses[:20]):.3f} (first 20 steps) -> "
          f"{sum(result.losses[-20:]) / len(result.losses[-20:]):.3f} (last 20)")

    # 6. Spider dev: greedy SQL, executed and compared with the gold query's rows
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # predict_sql warns when it cuts prompts; the count is in the report
        report = evaluate_model(model, tokenizer, dev_ex, max_new_tokens=args.max_new_tokens,
                                info={"dataset": "spider", "split": "dev", "steps": result.step})
    eval_time = time.perf_counter() - t0
    report.save_json(Path(out) / "dev_report.json")
    wall = time.perf_counter() - t_start

    for correct, title in ((True, "right"), (False, "wrong")):
        rows = examples_table(report, correct, 3)
        if rows:
            print(f"\n{title} on Spider dev:")
        for r in rows:
            print(f"  [{r['db_id']}] {r['question'][:100]}\n    gold: {r['gold'][:100]}\n"
                  f"    pred: {(r['prediction'] or '')[:100]}")
    print(f"\nSpider dev, by hardness ({report.info['prompts_truncated']} of {len(dev_ex)} prompts cut at the front "
          f"to leave {args.max_new_tokens} tokens for the SQL):")
    print(report)
    m = report.summary()["all"]
    print(f"\nbench_spider_quality: preset {preset.name}, {result.step} steps, {threads} thread(s)")
    print(f"  Spider dev ({len(dev_ex)} questions): execution accuracy {m['execution_accuracy']:.1%}, "
          f"exact set match {m['exact_match']:.1%}, valid SQL {m['valid_sql']:.1%}")
    print(f"  training data: {train_ds.stats.summary()} (policy truncate_prompt, context {context})")
    print(f"  wall time {wall:.0f} s ({wall / 60:.1f} min): training {train_time:.0f} s, dev evaluation "
          f"{eval_time:.0f} s; load average after {_load()}")
    print(f"  report: {Path(out) / 'dev_report.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
