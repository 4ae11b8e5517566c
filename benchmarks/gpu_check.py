"""Chapter 8 on a GPU in one command: speed, memory, a from-scratch fine-tune scored on Spider, and the notebook.

Sections, run in this order, each timed and each recorded even when another fails:

1. ``device``: the card, its reported memory, the memory tier and preset chosen from it (``config.gpu_memory_tier``).
2. ``throughput``: training steps of the 124M shape (the ``gpu`` preset's model) on random tokens in eager fp32
   (TF32 matrix products, as the engine sets them), eager bf16, and bf16 + ``torch.compile``: tokens/s, model FLOPs
   utilisation against the card's 16-bit peak (``train.peak_flops``), peak memory, and the first step's seconds
   (the compilation).
3. ``finetune``: the course model from random weights at the card's preset (124M), chapter 5's supervised format,
   on the generated data + Spider's training set (``--spider-dir``) for about ``--finetune-minutes``
   (a step budget from the measured speed, a guard stopping at 1.5x); then Spider dev execution accuracy on a
   seeded sample of ``--eval-examples`` questions, greedy and with the default decoder (``generate.BEST_DECODING``).
4. ``notebook``: ``chapters/08_gpu_training.ipynb`` executed end to end (nbclient, the engine nbconvert runs) in a
   temporary copy, with one cell added after its configuration cell: weights from scratch (no GPT-2 download),
   WikiSQL's offline fixture, a step cap and small test sets.

It writes one JSON (``--out``, default ``outputs/gpu_check/gpu_check.json``) and prints a table. ``--smoke`` runs
the same code on the CPU in under a minute: the tiny preset, a few steps, the ``aot_eager`` compiler (inductor's C++
build takes minutes on a CPU), and a two-database Spider-format folder when no ``--spider-dir`` is given.

    python benchmarks/gpu_check.py --spider-dir path/to/spider           # on a CUDA machine, under 8 minutes
    python benchmarks/gpu_check.py --smoke                               # on a CPU, under a minute
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import math
import os
import random
import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # a checkout runs without installing the package

from t2sql_lib import config as cf  # noqa: E402
from t2sql_lib import hardware as hw  # noqa: E402
from t2sql_lib import pipeline as pl  # noqa: E402
from t2sql_lib import train as tr  # noqa: E402
from t2sql_lib.model import GPTConfig, GPTModel  # noqa: E402

MODES = (("eager fp32", "fp32", False), ("eager bf16", "bf16", False), ("bf16 + compile", "bf16", True))
NOTEBOOK = ROOT / "chapters" / "08_gpu_training.ipynb"
INJECTED = "# added by benchmarks/gpu_check.py"


@dataclasses.dataclass
class Sizes:
    """What each section runs; ``for_run`` gives the GPU's and the smoke test's."""

    preset: str
    batch: int
    seq: int
    warmup: int
    steps: int
    compile_backend: str
    overrides: tuple[str, ...]
    notebook_overrides: tuple[str, ...]
    max_new_tokens: int


def for_run(smoke: bool, device: torch.device) -> Sizes:
    if smoke:
        data = ("data.n_synth_examples=300", "data.max_examples_per_dataset=40")
        return Sizes("tiny", 2, 64, 1, 3, "aot_eager", data, (*data, "train.max_steps=3", "train.eval_every=3"), 24)
    # the preset's 16,384-id BPE takes minutes to learn in Python; 4,096 ids and 20,000 generated questions keep
    # the data steps near a minute; the model keeps the preset's 124M shape (its embedding follows the tokenizer)
    data = ("data.n_synth_examples=20000", "data.tokenizer_vocab_size=4096")
    preset = cf.auto_preset_name() if device.type == "cuda" else "gpu"
    return Sizes(preset, 16, 1024, 3, 20, "inductor", data,
                 (*data, "train.max_steps=40", "train.eval_every=20", "train.log_every=10"), 128)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def device_section(device: torch.device) -> dict:
    info = {"device": str(device), "torch": torch.__version__, "python": sys.version.split()[0]}
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        info.update(name=props.name, total_memory_gib=round(props.total_memory / 2**30, 2),
                    capability=f"{props.major}.{props.minor}", tier=cf.gpu_memory_tier(props.total_memory),
                    preset=cf.auto_preset_name(), peak_tflops_16bit=(hw.peak_flops(device, "bf16") or 0) / 1e12)
    return info


def measure_mode(label: str, precision: str, compiled: bool, cfg: GPTConfig, sizes: Sizes,
                 device: torch.device) -> dict:
    """Warm-up steps then timed steps of the engine's step (autocast, scaler, clipping, AdamW) on random tokens."""
    settings = dataclasses.replace(cf.load_preset("gpu").train, precision=precision, compile=compiled,
                                   batch_size=sizes.batch)
    torch.manual_seed(0)
    model = GPTModel(cfg).to(device).train()
    if device.type == "cuda":
        prec = hw.setup_precision(settings, device)  # also TF32 for fp32 matrix products, as in a run
        net, _ = hw.maybe_compile(model, settings, device)
    else:  # a CPU: autocast as asked (emulated bf16 where not native), a compiler without C++
        prec = hw.Precision(precision, "cpu", torch.amp.GradScaler("cpu", enabled=precision == "fp16"))
        net = torch.compile(model, backend=sizes.compile_backend) if compiled else model
    optimizer = tr.build_optimizer(model, settings, device)
    g = torch.Generator().manual_seed(0)
    data = torch.randint(0, cfg.vocab_size, (sizes.warmup + sizes.steps, sizes.batch, sizes.seq + 1), generator=g)
    data = data.to(device)  # a few MB, copied once: the timed steps measure the model, not the transfers

    def step(i: int) -> float:
        x, y = data[i, :, :-1], data[i, :, 1:]  # (batch, tokens)
        with prec.autocast():
            loss = tr.lm_loss_sum(net(x), y) / y.numel()
        prec.scaler.scale(loss).backward()
        prec.scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(model.parameters(), settings.grad_clip)
        prec.scaler.step(optimizer)
        prec.scaler.update()
        optimizer.zero_grad(set_to_none=True)
        return loss.detach()

    t0 = time.perf_counter()
    step(0)
    sync(device)
    first = time.perf_counter() - t0
    for i in range(1, sizes.warmup):
        step(i)
    if device.type == "cuda":
        sync(device)
        torch.cuda.reset_peak_memory_stats(device)
    t0 = time.perf_counter()
    losses = [step(sizes.warmup + i) for i in range(sizes.steps)]
    sync(device)
    seconds = time.perf_counter() - t0
    tokens = sizes.steps * sizes.batch * sizes.seq
    flops = hw.step_flops(model, [data[0, :, :-1]]) * sizes.steps
    mfu = hw.model_flops_utilisation(flops, seconds, hw.peak_flops(device, "bf16"))
    row = {"mode": label, "precision": prec.name, "compiled": compiled,
           "compiler": sizes.compile_backend if compiled else None, "batch": sizes.batch, "seq": sizes.seq,
           "steps": sizes.steps, "tokens_per_s": tokens / seconds, "mfu": mfu, "first_step_s": first,
           "final_loss": float(losses[-1]),
           "peak_memory_gib": torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None}
    return row


def throughput_section(sizes: Sizes, device: torch.device) -> dict:
    shape = cf.load_preset(sizes.preset if sizes.preset == "tiny" else "gpu").model
    cfg = shape
    rows = []
    for label, precision, compiled in MODES:
        try:
            rows.append(measure_mode(label, precision, compiled, cfg, sizes, device))
        except Exception as err:  # one mode failing (out of memory, a compiler error) leaves the others
            rows.append({"mode": label, "error": f"{type(err).__name__}: {str(err).splitlines()[0][:300]}"})
        if device.type == "cuda":
            torch.cuda.empty_cache()  # the mode's model and optimizer are gone with its frame
    with torch.device("meta"):
        n_params = GPTModel(cfg).num_parameters()
    return {"model": dataclasses.asdict(shape), "parameters": n_params, "modes": rows}


def write_tiny_spider(root: Path) -> Path:
    """A Spider-format folder of one database (two tables), for the smoke run where no Spider copy is given."""
    tables = [{"db_id": "pets", "table_names_original": ["Owner", "Pet"], "table_names": ["owner", "pet"],
               "column_names_original": [[-1, "*"], [0, "OwnerID"], [0, "Name"], [1, "PetID"], [1, "Kind"],
                                         [1, "OwnerID"]],
               "column_names": [[-1, "*"], [0, "owner id"], [0, "name"], [1, "pet id"], [1, "kind"],
                                [1, "owner id"]],
               "column_types": ["text", "number", "text", "number", "text", "number"],
               "primary_keys": [1, 3], "foreign_keys": [[5, 1]]}]
    (root / "database" / "pets").mkdir(parents=True, exist_ok=True)
    (root / "tables.json").write_text(json.dumps(tables), encoding="utf-8")
    db = root / "database" / "pets" / "pets.sqlite"
    db.unlink(missing_ok=True)
    with contextlib.closing(sqlite3.connect(db)) as con:
        con.execute("CREATE TABLE Owner (OwnerID integer PRIMARY KEY, Name text)")
        con.execute("CREATE TABLE Pet (PetID integer PRIMARY KEY, Kind text, OwnerID integer)")
        con.executemany("INSERT INTO Owner VALUES (?, ?)", [(1, "Ann"), (2, "Bo")])
        con.executemany("INSERT INTO Pet VALUES (?, ?, ?)", [(1, "cat", 1), (2, "dog", 1), (3, "cat", 2)])
        con.commit()
    questions = [("How many pets are there?", "SELECT count(*) FROM Pet"),
                 ("List the kinds of pets.", "SELECT DISTINCT Kind FROM Pet"),
                 ("What are the owners' names?", "SELECT Name FROM Owner"),
                 ("How many cats are there?", "SELECT count(*) FROM Pet WHERE Kind = 'cat'")]
    rows = [{"db_id": "pets", "question": q, "query": s} for q, s in questions]
    (root / "train_spider.json").write_text(json.dumps(rows * 3), encoding="utf-8")
    (root / "dev.json").write_text(json.dumps(rows), encoding="utf-8")
    return root


def mean_tokens_per_batch(sft: pl.SFTData, multiple: int) -> float:
    """Padded tokens of an average training batch (a sample of 100 batches)."""
    picks = random.Random(0).sample(range(len(sft.train)), min(100, len(sft.train)))
    sizes = []
    for i in picks:
        batch = sft.train[i]
        width = math.ceil(max(len(x) for x, _ in batch) / multiple) * multiple
        sizes.append(len(batch) * width)
    return sum(sizes) / max(len(sizes), 1)


class TimeUp(Exception):
    """Raised by the fine-tune's callback past its time guard."""


def finetune_section(args: argparse.Namespace, sizes: Sizes, device: torch.device, tokens_per_s: float | None,
                     work: Path) -> dict:
    """Data, tokenizer and model as chapter 8 builds them, a fine-tune of about ``--finetune-minutes``, then
    Spider dev execution accuracy greedy and with the default decoder."""
    from t2sql_lib.generate import BEST_DECODING
    from t2sql_lib.paths import outputs_dir
    from t2sql_lib.sft import build_tokenizer

    t_start = time.perf_counter()
    config = pl.PipelineConfig(preset=sizes.preset, overrides=list(sizes.overrides), data=("synth", "spider"),
                               spider_dir=args.spider_dir, val_examples=0, progress=False)
    preset = config.preset_settings()
    data = pl.load_all_data(config, preset)
    train_examples = pl.mix(data, config.data, "train")
    val_examples = pl.mix(data, config.data, "validation")
    tokenizer = build_tokenizer("bpe", train_examples, preset.data.tokenizer_vocab_size, renamed=True,
                                cache_dir=outputs_dir() / "cache")
    sft = pl.build_sft_data(train_examples, val_examples, tokenizer, preset, config)
    data_s = time.perf_counter() - t_start
    multiple = 64 if device.type == "cuda" else 1
    per_batch = mean_tokens_per_batch(sft, multiple)
    budget_s = args.finetune_minutes * 60
    # tokens/s measured at full length is an upper bound for short SFT batches: plan on 60% of it
    steps = max(2, int(budget_s * 0.6 * (tokens_per_s or 0) / per_batch)) if tokens_per_s else 20
    steps = min(steps, args.max_finetune_steps) if args.max_finetune_steps else steps
    train_settings = dataclasses.replace(preset.train, max_steps=steps, eval_every=steps,
                                         warmup_steps=min(preset.train.warmup_steps, max(1, steps // 10)),
                                         log_every=max(1, steps // 20), checkpoint_every_minutes=0.0)
    preset = dataclasses.replace(preset, train=train_settings)
    model = pl.build_model(preset, tokenizer.n_vocab)
    deadline = time.perf_counter() + 1.5 * budget_s

    def guard(result):
        if time.perf_counter() > deadline:
            raise TimeUp(f"stopped at step {result.step}: past 1.5x the {args.finetune_minutes} min budget")

    t0 = time.perf_counter()
    stopped = None
    try:
        run = pl.finetune(model, sft, tokenizer, preset, work / "finetune", val_examples=0,
                          max_new_tokens=sizes.max_new_tokens, resume=None, env=None, progress=False,
                          verbose=False, config=config, callback=guard, pad_to_multiple_of=multiple)
        steps_done, tps, mfu, peak = run.step, run.tokens_per_s, run.mfu, run.peak_memory_bytes
        final_loss = run.losses[-1] if run.losses else None
    except TimeUp as err:  # the log on disk says how far it got; the model in memory is scored as it is
        rows = tr.read_csv_log(work / "finetune" / tr.TRAIN_LOG)
        stopped, steps_done, mfu, peak = str(err), len(rows), None, None
        tps = sum(r["tokens_per_s"] for r in rows) / len(rows) if rows else None
        final_loss = rows[-1]["loss"] if rows else None
    train_s = time.perf_counter() - t0
    dev_sample = pl.seeded_sample(data["spider"]["test"], args.eval_examples, 0)
    t0 = time.perf_counter()
    results = pl.evaluate_decoders(model, tokenizer, {"spider": dev_sample}, ["greedy", BEST_DECODING],
                                   max_new_tokens=sizes.max_new_tokens)
    eval_s = time.perf_counter() - t0
    accuracy = {row.decoder: row.execution_accuracy for row in results.table.itertuples()}
    return {"preset": preset.name, "overrides": list(sizes.overrides), "parameters": model.num_parameters(),
            "tokenizer_ids": tokenizer.n_vocab, "train_examples": len(train_examples),
            "spider_train_examples": len(data["spider"]["train"]), "planned_steps": steps, "steps": steps_done,
            "stopped": stopped, "mean_tokens_per_batch": per_batch, "data_s": data_s, "train_s": train_s,
            "tokens_per_s": tps, "mfu": mfu, "peak_memory_gib": peak / 2**30 if peak else None,
            "final_loss": final_loss, "eval_questions": len(dev_sample), "eval_s": eval_s,
            "spider_dev_execution_accuracy": accuracy, "default_decoder": BEST_DECODING,
            "results": json.loads(results.table.to_json(orient="records"))}


def notebook_with_cap(sizes: Sizes, test_examples: int) -> object:
    """Chapter 8 with one cell after its configuration cell: scratch weights, WikiSQL's fixture, a step cap."""
    import nbformat

    nb = nbformat.read(NOTEBOOK, as_version=4)
    where = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code" and "config = PipelineConfig(" in c.source)
    source = f"""{INJECTED}: no download (weights from scratch, WikiSQL's fixture), a step cap, small test sets
import dataclasses

config = dataclasses.replace(config, init="scratch", tokenizer="auto",
                             wikisql_dir=write_wikisql_fixture(RUN_ROOT / "wikisql_fixture"),
                             overrides=[*config.overrides, *{list(sizes.notebook_overrides)!r}],
                             test_examples={test_examples}, val_examples=min(config.val_examples, 4),
                             max_new_tokens={sizes.max_new_tokens})
preset = config.preset_settings()
RUN_DIR = RUN_ROOT / preset.name
RESUME = False
shutil.rmtree(RUN_DIR, ignore_errors=True)
print("capped:", preset.name, config.overrides)"""
    nb.cells.insert(where + 1, nbformat.v4.new_code_cell(source))
    return nb


def notebook_section(args: argparse.Namespace, sizes: Sizes, work: Path, out: Path) -> dict:
    """Execute the capped chapter 8 in a fresh kernel; its runs go under ``work`` (``T2SQL_OUTPUTS_DIR``), the
    executed notebook to ``out``."""
    from nbclient import NotebookClient

    nb = notebook_with_cap(sizes, test_examples=3 if args.smoke else 10)
    env = {"T2SQL_OUTPUTS_DIR": str(work / "notebook_outputs"), "PYTHONPATH": os.pathsep.join(
        p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)}
    if args.spider_dir:
        env["T2SQL_SPIDER_DIR"] = str(args.spider_dir)
    if args.smoke:
        env["T2SQL_PRESET"] = "tiny"
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)  # the kernel inherits this process's environment
    t0 = time.perf_counter()
    try:
        client = NotebookClient(nb, timeout=args.notebook_cell_timeout, kernel_name="python3",
                                resources={"metadata": {"path": str(NOTEBOOK.parent)}})
        client.execute()
        ok, error = True, None
    except Exception as err:  # a failing cell: its name and message, the notebook saved for reading
        ok, error = False, f"{type(err).__name__}: {str(err)[-1500:]}"
    finally:
        for k, v in saved.items():
            os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
    import nbformat

    nbformat.write(nb, out / "08_gpu_training.executed.ipynb")
    capped = next((o.get("text", "") for c in nb.cells if c.cell_type == "code" and INJECTED in c.source
                   for o in c.get("outputs", []) if o.get("output_type") == "stream"), "")
    return {"ok": ok, "error": error, "seconds": time.perf_counter() - t0, "capped": capped.strip(),
            "executed_cells": sum(1 for c in nb.cells if c.cell_type == "code" and c.get("execution_count"))}


def section(report: dict, path: Path, name: str, fn, *args) -> None:
    """Run one section into ``report[name]`` (a failure is recorded, not raised), then rewrite the JSON: a run
    stopped from outside keeps the sections it finished."""
    t0 = time.perf_counter()
    print(f"--- {name}", flush=True)
    try:
        report[name] = fn(*args)
    except Exception as err:
        report[name] = {"error": f"{type(err).__name__}: {str(err).splitlines()[0][:500] if str(err) else ''}"}
    report[name]["section_s"] = round(time.perf_counter() - t0, 1)
    print(f"--- {name}: {report[name]['section_s']} s", flush=True)
    path.write_text(json.dumps(report, indent=1, default=str) + "\n", encoding="utf-8")


def fmt(value, spec: str = ".1f", none: str = "-") -> str:
    return none if value is None else format(value, spec)


def print_table(report: dict) -> None:
    dev = report.get("device", {})
    print(f"\n{dev.get('name', dev.get('device'))}: {dev.get('total_memory_gib', '-')} GiB reported, tier "
          f"{dev.get('tier', '-')}, preset {dev.get('preset', '-')}, torch {dev.get('torch')}")
    print(f"{'model shape':<18}{'tokens/s':>12}{'MFU':>8}{'peak GiB':>10}{'1st step s':>12}")
    for row in report.get("throughput", {}).get("modes", []):
        if "error" in row:
            print(f"{row['mode']:<18} error: {row['error']}")
            continue
        print(f"{row['mode']:<18}{row['tokens_per_s']:>12,.0f}{fmt(row['mfu'], '.1%'):>8}"
              f"{fmt(row['peak_memory_gib'], '.2f'):>10}{row['first_step_s']:>12.1f}")
    ft = report.get("finetune", {})
    if "error" in ft:
        print(f"fine-tune: error: {ft['error']}")
    elif ft:
        acc = ft["spider_dev_execution_accuracy"]
        print(f"fine-tune {ft['preset']} ({ft['parameters'] / 1e6:.1f}M) from scratch: {ft['steps']} steps in "
              f"{ft['train_s'] / 60:.1f} min, {fmt(ft['tokens_per_s'], ',.0f')} tokens/s, MFU {fmt(ft['mfu'], '.1%')}, "
              f"peak {fmt(ft['peak_memory_gib'], '.2f')} GiB, final loss {fmt(ft['final_loss'], '.3f')}"
              + (f" ({ft['stopped']})" if ft.get("stopped") else ""))
        print("Spider dev execution accuracy (" + f"{ft['eval_questions']} questions): " +
              ", ".join(f"{k} {v:.3f}" for k, v in acc.items()))
    nb = report.get("notebook", {})
    if nb:
        print(f"chapter 8 notebook: {'ran end to end' if nb.get('ok') else 'FAILED'} in "
              f"{fmt(nb.get('seconds'), '.0f')} s" + (f": {nb.get('error')}" if nb.get("error") else ""))
    print(f"total {report['total_s']:.0f} s; JSON: {report['json']}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--spider-dir", type=Path, default=None,
                   help="a Spider folder (tables.json, train_spider.json, dev.json, database/); default: "
                        "$T2SQL_SPIDER_DIR or data/raw/spider; --smoke writes a small one unless given")
    p.add_argument("--out", type=Path, default=None, help="output folder (default: outputs/gpu_check[_smoke])")
    p.add_argument("--smoke", action="store_true", help="the same code on the CPU at tiny sizes, under a minute")
    p.add_argument("--finetune-minutes", type=float, default=None, help="fine-tune budget (default 1.5; smoke 0.05)")
    p.add_argument("--max-finetune-steps", type=int, default=None, help="cap on the planned steps (smoke: 4)")
    p.add_argument("--eval-examples", type=int, default=None, help="Spider dev questions scored (default 150)")
    p.add_argument("--notebook-cell-timeout", type=int, default=300)
    p.add_argument("--skip", default="", help="sections to skip, comma-separated: throughput,finetune,notebook")
    args = p.parse_args(argv)
    if args.finetune_minutes is None:
        args.finetune_minutes = 0.05 if args.smoke else 1.5
    if args.max_finetune_steps is None and args.smoke:
        args.max_finetune_steps = 4
    if args.eval_examples is None:
        args.eval_examples = 3 if args.smoke else 150
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from t2sql_lib.paths import display_path, outputs_dir, spider_dir

    device = torch.device("cpu" if args.smoke or not torch.cuda.is_available() else "cuda")
    if args.smoke:
        torch.set_num_threads(1)
    out = args.out or outputs_dir() / ("gpu_check_smoke" if args.smoke else "gpu_check")
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="gpu_check_"))  # checkpoints and the notebook's runs: not kept
    if args.spider_dir is None:  # the smoke run's own small folder unless one is given: the same run everywhere
        args.spider_dir = write_tiny_spider(work / "tiny_spider") if args.smoke else spider_dir()
    if args.spider_dir is None:
        raise SystemExit("no Spider folder: give --spider-dir (see benchmarks/README.md)")
    sizes = for_run(args.smoke, device)
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    path = out / "gpu_check.json"
    report: dict = {"smoke": args.smoke, "sizes": dataclasses.asdict(sizes), "json": display_path(path)}
    t0 = time.perf_counter()
    section(report, path, "device", device_section, device)
    if "throughput" not in skip:
        section(report, path, "throughput", throughput_section, sizes, device)
    modes = {r["mode"]: r for r in report.get("throughput", {}).get("modes", []) if "error" not in r}
    wanted = "bf16 + compile" if device.type == "cuda" and sizes.preset == "gpu" else "eager fp32"
    tps = (modes.get(wanted) or {}).get("tokens_per_s")
    if "finetune" not in skip:
        section(report, path, "finetune", finetune_section, args, sizes, device, tps, work)
    if "notebook" not in skip:
        section(report, path, "notebook", notebook_section, args, sizes, work, out)
    shutil.rmtree(work, ignore_errors=True)
    report["total_s"] = round(time.perf_counter() - t0, 1)
    path.write_text(json.dumps(report, indent=1, default=str) + "\n", encoding="utf-8")
    print_table(report)
    failed = [k for k, v in report.items() if isinstance(v, dict) and (v.get("error") or v.get("ok") is False)]
    failed += [r["mode"] for r in report.get("throughput", {}).get("modes", []) if "error" in r]
    if failed:
        print("failed:", ", ".join(failed))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
