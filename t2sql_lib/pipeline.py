"""The end-to-end text-to-SQL run of chapter 8: data, tokenizer, model, fine-tuning, scoring, saving.

One function per stage, each small enough to call from a notebook cell, and ``run_pipeline`` chaining them;
``python -m t2sql_lib.train_cli --task sft`` (and ``torchrun --nproc_per_node=N -m t2sql_lib.train_cli --task sft``)
runs the same chain from the command line.

1. ``load_data``: the generated dataset, WikiSQL (the official release, downloaded once, or a folder in its
   format) and Spider (a local folder), each as ``train`` / ``validation`` / ``test`` lists of ``Example``.
   Spider's test set is hidden, so its ``dev`` split is the test here and it has no validation split.
2. ``build_tokenizer`` (chapter 5's): a BPE trained on the training questions and SQL, or GPT-2's encoding
   when the weights start from GPT-2.
3. ``build_model``: a GPT from random weights at the preset's shape, or GPT-2 (124M, 355M) weights; the
   vocabulary is padded to a multiple of 64 (``padded_vocab_size``) so the output layer's matrix multiply
   runs on full GPU tiles. ``trim_vocab`` cuts the padding off again for decoding and saving.
4. ``finetune``: chapter 5's supervised format (prompt masked out of the loss, batches of similar lengths)
   through the one training engine, ``t2sql_lib.train.train``.
5. ``evaluate_decoders``: every test set with several of chapter 6's decoders (greedy, schema-constrained,
   execution-guided), executed and scored: execution accuracy, exact match, valid SQL, WikiSQL's
   logical-form accuracy, Spider's hardness buckets; one results ``DataFrame``. Each dataset is scored by its own
   rules (``t2sql_lib.evaluate``): on Spider, the official ones, exact match being Spider's exact set match.
6. ``save_model``: the folder ``t2sql ask --model DIR`` loads (``t2sql_lib.model_folder``), plus the
   results table.
"""

from __future__ import annotations

import dataclasses
import json
import random
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from .config import Preset, get_preset
from .demo import save_outputs
from .distributed import DistEnv, barrier
from .evaluate import EvalReport, evaluate
from .generate import DECODERS, decode_sql
from .model import GPT2_SHAPES, GPTConfig, GPTModel
from .model_folder import tokenizer_json
from .paths import display_path, outputs_dir
from .schema import Example
from .sft import (
    LengthGroupedBatches,
    SFTCollator,
    SFTDataset,
    augment_with_renaming,
    build_tokenizer,
    execution_eval_fn,
    special_id,
)
from .special_tokens import PAD

DATA_NAMES = ("synth", "wikisql", "spider")
DEFAULT_DECODERS = ("greedy", "constrained", "execution_guided")
VOCAB_MULTIPLE = 64


@dataclass
class PipelineConfig:
    """What ``run_pipeline`` does; every field has a default that runs offline on the generated data."""

    preset: str | None = None  # a preset name or YAML file (None: $T2SQL_PRESET or the hardware's)
    overrides: Sequence[str] = ()  # section.key=value, applied to the preset
    data: Sequence[str] = ("synth",)  # training data, mixed: any of DATA_NAMES
    eval_data: Sequence[str] | None = None  # test sets scored at the end (None: the same as ``data``)
    init: str = "scratch"  # "scratch", "gpt2" (124M), "gpt2-medium" (355M), or a GPT-2 model.safetensors path
    tokenizer: str = "auto"  # "bpe", "gpt2", or "auto": gpt2 when ``init`` is GPT-2 weights, else bpe
    wikisql_dir: str | Path | None = None  # a folder in WikiSQL's format (None: the official release, cached)
    spider_dir: str | Path | None = None  # a Spider folder (None: $T2SQL_SPIDER_DIR, data/raw/spider, ...)
    decoders: Sequence[str] = DEFAULT_DECODERS  # names in t2sql_lib.generate.DECODERS
    test_examples: int | None = 200  # questions scored per test set, a seeded sample (None: all)
    val_examples: int = 50  # validation questions decoded at each evaluation during training (0: none)
    max_new_tokens: int = 128  # longest SQL generated, in tokens
    rename_rate: float = 0.5  # training examples with renamed schema words (chapter 5's augmentation)
    tokenizer_on_renamed: bool = True  # learn the BPE merges with schema words renamed away (see build_tokenizer)
    data_seed: int = 0
    out_dir: str | Path | None = None  # default: outputs/pipeline/<preset>
    progress: bool = True

    def preset_settings(self) -> Preset:
        """The preset with ``overrides`` applied."""
        return get_preset(self.preset).with_overrides(list(self.overrides))

    def tokenizer_kind(self) -> str:
        """``bpe`` or ``gpt2``: ``auto`` follows ``init``."""
        if self.tokenizer != "auto":
            return self.tokenizer
        return "bpe" if self.init == "scratch" else "gpt2"


# ----------------------------------------------------------------------------------------------------
# 1. Data
# ----------------------------------------------------------------------------------------------------

def check_data_names(names: Sequence[str] | str) -> list[str]:
    """``names`` (a list, or one comma-separated string) checked against ``DATA_NAMES``."""
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    names = list(dict.fromkeys(names))
    bad = [n for n in names if n not in DATA_NAMES]
    if bad or not names:
        raise ValueError(f"unknown data {', '.join(map(repr, bad)) or '(none given)'}: choose from {DATA_NAMES}, "
                         "several separated by commas (e.g. synth,wikisql)")
    return names


def seeded_sample(examples: Sequence[Example], n: int | None, seed: int) -> list[Example]:
    """``n`` examples drawn with ``seed`` (all of them, in order, when ``n`` is None or not smaller)."""
    examples = list(examples)
    if n is None or n >= len(examples):
        return examples
    return random.Random(seed).sample(examples, n)


def load_data(name: str, preset: Preset, *, wikisql_dir: str | Path | None = None,
              spider_dir: str | Path | None = None, seed: int = 0) -> dict[str, list[Example]]:
    """``{"train", "validation", "test"}`` example lists of one dataset.

    ``synth``: the generated dataset (``data.n_synth_examples`` questions, split by database). ``wikisql``:
    train / dev / test of ``wikisql_dir`` or of the official release (downloaded once into ``data/raw``).
    ``spider``: ``train`` and ``dev`` (as the test) of ``spider_dir`` or the folder ``paths.spider_dir`` finds;
    a missing folder raises FileNotFoundError naming where it looked. WikiSQL's and Spider's training
    lists are capped at ``data.max_examples_per_dataset`` (a seeded sample).
    """
    check_data_names([name])
    cap = preset.data.max_examples_per_dataset
    if name == "synth":
        from .synth import load_generated

        return load_generated(n_examples=preset.data.n_synth_examples, seed=seed)
    if name == "wikisql":
        from .wikisql import load_wikisql

        splits = {ours: load_wikisql(wikisql_dir, split=theirs)
                  for ours, theirs in (("train", "train"), ("validation", "dev"), ("test", "test"))}
        splits["train"] = seeded_sample(splits["train"], cap, seed)
        return {k: list(v) for k, v in splits.items()}
    from .spider import load_spider, load_spider_schemas, resolve_spider_root  # name == "spider"

    root = resolve_spider_root(spider_dir)
    schemas = load_spider_schemas(root)
    train = load_spider(root, split="train", hardness=False, schemas=schemas)
    dev = load_spider(root, split="dev", schemas=schemas)
    return {"train": seeded_sample(train, cap, seed), "validation": [], "test": list(dev)}


def load_all_data(config: PipelineConfig, preset: Preset, env: DistEnv | None = None
                  ) -> dict[str, dict[str, list[Example]]]:
    """``load_data`` for every dataset that ``config.data`` and ``config.eval_data`` name.

    Under DDP, rank 0 loads first (it may download or build caches) while the others wait, then they read.
    """
    names = check_data_names(list(config.data) + list(config.eval_data or []))
    env = env or DistEnv()
    if not env.is_main:
        barrier(env)
    out = {name: load_data(name, preset, wikisql_dir=config.wikisql_dir, spider_dir=config.spider_dir,
                           seed=config.data_seed) for name in names}
    if env.is_main:
        barrier(env)
    return out


def data_sizes(data: Mapping[str, Mapping[str, Sequence[Example]]]) -> pd.DataFrame:
    """Questions and databases per dataset and split, as a table."""
    rows = []
    for name, splits in data.items():
        for split, examples in splits.items():
            rows.append({"dataset": name, "split": split, "questions": len(examples),
                         "databases": len({e.db_id for e in examples})})
    return pd.DataFrame(rows)


def mix(data: Mapping[str, Mapping[str, Sequence[Example]]], names: Sequence[str], split: str,
        seed: int = 0) -> list[Example]:
    """The ``split`` lists of the datasets ``names``, concatenated and shuffled with ``seed``."""
    examples = [e for name in names for e in data[name][split]]
    random.Random(seed).shuffle(examples)
    return examples


# ----------------------------------------------------------------------------------------------------
# 2-3. Tokenizer and model
# ----------------------------------------------------------------------------------------------------

def padded_vocab_size(n_vocab: int, multiple: int = VOCAB_MULTIPLE) -> int:
    """``n_vocab`` rounded up to a multiple of ``multiple``: 50261 (GPT-2 + the course's tokens) becomes 50304."""
    if n_vocab < 1 or multiple < 1:
        raise ValueError(f"n_vocab={n_vocab} and multiple={multiple} must be at least 1")
    return -(-n_vocab // multiple) * multiple


def gpt2_name(init: str) -> str | None:
    """The GPT-2 size that ``init`` starts from (``gpt2``, ``gpt2-medium``, ...), None for ``scratch``.

    A path to a ``model.safetensors`` file (or a folder holding one) is taken as GPT-2 small unless its name
    says otherwise.
    """
    if init == "scratch":
        return None
    if init in GPT2_SHAPES:
        return init
    path = Path(init).expanduser()
    if not (path.is_file() or (path / "model.safetensors").is_file()):
        raise ValueError(f"init {init!r}: expected 'scratch', one of {sorted(GPT2_SHAPES)}, or a GPT-2 "
                         f"model.safetensors file or folder (no file at {path})")
    for name in sorted(GPT2_SHAPES, key=len, reverse=True):
        if name in str(path):
            return name
    return "gpt2"


def model_config(preset: Preset, n_vocab: int, init: str = "scratch") -> GPTConfig:
    """The model's shape: the preset's (``scratch``) or GPT-2's (context cut to the preset's), with the
    vocabulary padded to a multiple of 64 and at least the tokenizer's ``n_vocab``."""
    name = gpt2_name(init)
    if name is None:
        return dataclasses.replace(preset.model, vocab_size=padded_vocab_size(n_vocab))
    base = GPTConfig.gpt2(name)
    return dataclasses.replace(base, vocab_size=padded_vocab_size(max(n_vocab, base.vocab_size)),
                               context_length=min(preset.model.context_length, base.context_length),
                               drop_rate=preset.model.drop_rate)


def build_model(preset: Preset, n_vocab: int, init: str = "scratch", seed: int | None = None) -> GPTModel:
    """A ``GPTModel`` from random weights (seeded with ``seed``, default the preset's) or from GPT-2's."""
    cfg = model_config(preset, n_vocab, init)
    torch.manual_seed(preset.train.seed if seed is None else seed)  # the same weights on every rank
    model = GPTModel(cfg)
    if gpt2_name(init) is not None:
        from .gpt2_weights import load_gpt2_weights

        load_gpt2_weights(model, init)
    return model


@torch.no_grad()
def trim_vocab(model: GPTModel, n_vocab: int) -> GPTModel:
    """A copy of ``model`` whose vocabulary is the tokenizer's ``n_vocab`` ids: the padding rows are cut off.

    Padding ids are never a training target, but an untrained model may still pick one; without its row the
    decoder cannot. The logits of the real ids are unchanged.
    """
    model = getattr(model, "module", model)
    model = getattr(model, "_orig_mod", model)
    if n_vocab > model.cfg.vocab_size:
        raise ValueError(f"n_vocab={n_vocab} is larger than the model's vocab_size={model.cfg.vocab_size}")
    cfg = dataclasses.replace(model.cfg, vocab_size=n_vocab)
    device = next(model.parameters()).device
    with torch.device("meta"):
        trimmed = GPTModel(cfg)
    # a copy, not a view: the trimmed model is saved on its own (safetensors refuses part of a shared storage)
    state = {k: (v[:n_vocab] if k in ("tok_emb.weight", "lm_head.weight") else v).clone()
             for k, v in model.state_dict().items()}
    trimmed.load_state_dict(state, assign=True)
    if cfg.tie_weights:
        trimmed.lm_head.weight = trimmed.tok_emb.weight
    return trimmed.to(device).train(model.training)


# ----------------------------------------------------------------------------------------------------
# 4. Fine-tuning with the chapter-4/5 engine
# ----------------------------------------------------------------------------------------------------

@dataclass
class SFTData:
    """The engine's inputs: length-grouped training batches, validation SQL data, and what was dropped."""

    train: LengthGroupedBatches
    validation: LengthGroupedBatches | None
    val_examples: list[Example]
    summary: str


def build_sft_data(train_examples: Sequence[Example], val_examples: Sequence[Example], tokenizer: Any,
                   preset: Preset, *, rename_rate: float = 0.5, seed: int = 0) -> SFTData:
    """Chapter 5's format: prompt + SQL with the prompt masked out, too-long prompts cut at the front, part of the
    training set with renamed schema words, batches of similar lengths (``preset.train.batch_size`` each)."""
    s = preset.train
    max_len = preset.model.context_length
    train_aug = augment_with_renaming(train_examples, rename_rate, seed=s.seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # counted in the stats
        train_ds = SFTDataset(train_aug, tokenizer, max_length=max_len, too_long="truncate_prompt")
        val_ds = SFTDataset(val_examples, tokenizer, max_length=max_len, too_long="truncate_prompt") \
            if val_examples else None
    batch = min(s.batch_size, len(train_ds))
    train = LengthGroupedBatches(train_ds, batch, seed=s.seed)
    validation = None
    if val_ds is not None and len(val_ds) >= batch:
        validation = LengthGroupedBatches(val_ds, batch, seed=s.seed)
    summary = (f"train: {train_ds.stats.summary()}; {train_ds.n_scored_tokens():,} SQL tokens per epoch, "
               f"{len(train)} batches of {batch}")
    if val_ds is not None:
        summary += f"\nvalidation: {val_ds.stats.summary()}"
    return SFTData(train, validation, list(val_examples), summary)


def finetune(model: GPTModel, data: SFTData, tokenizer: Any, preset: Preset, out_dir: str | Path, *,
             val_examples: int = 50, max_new_tokens: int = 128, resume: bool | str | Path | None = None,
             stop_at_step: int | None = None, env: DistEnv | None = None, progress: bool = True,
             verbose: bool = True, config: PipelineConfig | Mapping[str, Any] | None = None, callback: Any = None,
             pad_to_multiple_of: int | None = None):
    """Train with ``t2sql_lib.train.train``: one length-grouped batch per micro-batch, the SQL loss on the
    validation examples and, when ``val_examples`` > 0, the execution accuracy of greedy SQL on that many of
    them at each evaluation. ``resume=True`` continues from ``out_dir``'s latest checkpoint; ``callback`` goes
    to the engine (a live plot). Batches are padded to a multiple of ``pad_to_multiple_of`` tokens (default:
    64 on a GPU, where few distinct shapes spare ``torch.compile`` recompilations, else 1). Returns the
    engine's ``TrainResult``."""
    from .train import RunOptions, TrainTask, train

    n_vocab = tokenizer.n_vocab
    eval_fn = None
    subset = data.val_examples[:val_examples]
    if subset:
        inner = execution_eval_fn(tokenizer, subset, prefix="val", max_new_tokens=max_new_tokens)

        def eval_fn(m):  # decode with the padding rows cut off: a padding id has no text
            return inner(trim_vocab(m, n_vocab))

    settings = dataclasses.replace(preset.train, batch_size=1)  # each item is already a batch
    model_cfg = dataclasses.asdict(unwrap(model).cfg)
    if pad_to_multiple_of is None:
        on_gpu = env.device.type == "cuda" if env is not None else torch.cuda.is_available()
        pad_to_multiple_of = 64 if on_gpu else 1
    collate = SFTCollator(special_id(tokenizer, PAD), pad_to_multiple_of=pad_to_multiple_of,
                          max_length=preset.model.context_length)
    task = TrainTask(val_data=data.validation, eval_fn=eval_fn, collate_fn=collate)
    options = RunOptions(out_dir=out_dir, resume_from=resume, stop_at_step=stop_at_step,
                         config={**preset.to_dict(), "model": model_cfg, "pipeline": _plain(config or {})},
                         tokenizer=tokenizer_json(tokenizer), env=env, progress=progress, verbose=verbose,
                         callback=callback)
    return train(model, data.train, settings, task, options)


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The ``GPTModel`` inside a DDP or ``torch.compile`` wrapper."""
    from .distributed import unwrap_model

    return unwrap_model(model)


# ----------------------------------------------------------------------------------------------------
# 5. Scoring with several decoders
# ----------------------------------------------------------------------------------------------------

@dataclass
class DecoderResults:
    """Scores of every (test set, decoder) pair: a summary table and the full reports."""

    table: pd.DataFrame  # one row per (dataset, decoder)
    reports: dict[tuple[str, str], EvalReport] = field(default_factory=dict)

    def hardness(self, dataset: str = "spider", metric: str = "execution_accuracy") -> pd.DataFrame:
        """``metric`` per hardness bucket (columns) and decoder (rows) on ``dataset`` (Spider's buckets)."""
        rows = {}
        for (name, decoder), report in self.reports.items():
            if name == dataset:
                df = report.to_dataframe()
                rows[decoder] = df[metric]
        return pd.DataFrame(rows).T


RESULT_COLUMNS = ("dataset", "decoder", "questions", "execution_accuracy", "exact_match", "valid_sql",
                  "logical_form_accuracy", "s_per_query")


def evaluate_decoders(model: GPTModel, tokenizer: Any, test_sets: Mapping[str, Sequence[Example]],
                      decoders: Sequence[str] = DEFAULT_DECODERS, *, max_new_tokens: int = 128,
                      batch_size: int = 32, progress: bool = False) -> DecoderResults:
    """Write SQL for every test set with every decoder, execute it and score it.

    Columns of the table: ``RESULT_COLUMNS``; ``logical_form_accuracy`` is WikiSQL's own metric (NaN for the
    other datasets). The model is decoded with its vocabulary trimmed to the tokenizer's.
    """
    unknown = [d for d in decoders if d not in DECODERS]
    if unknown:
        raise ValueError(f"unknown decoder(s) {unknown}: choose from {sorted(DECODERS)}")
    net = trim_vocab(unwrap(model), tokenizer.n_vocab).eval()
    rows, reports = [], {}
    for name, examples in test_sets.items():
        examples = list(examples)
        if not examples:
            continue
        for decoder in decoders:
            settings = dataclasses.replace(DECODERS[decoder], max_new_tokens=max_new_tokens)
            start = time.perf_counter()
            sqls = decode_sql(net, tokenizer, examples, settings, batch_size=batch_size)
            seconds = time.perf_counter() - start
            report = evaluate(examples, sqls, info={"dataset": name, "decoder": decoder})
            reports[(name, decoder)] = report
            summary = report.summary()["all"]
            rows.append({"dataset": name, "decoder": decoder, "questions": len(examples),
                         **{m: float(summary.get(m, float("nan"))) for m in RESULT_COLUMNS[3:7]},
                         "s_per_query": seconds / len(examples)})
            if progress:
                print(f"{name} / {decoder}: execution accuracy {rows[-1]['execution_accuracy']:.3f} "
                      f"({len(examples)} questions)")
    return DecoderResults(pd.DataFrame(rows, columns=list(RESULT_COLUMNS)), reports)


def plot_results(table: pd.DataFrame, metric: str = "execution_accuracy", ax=None):
    """A grouped bar chart of ``metric`` per test set (groups) and decoder (bars); returns the figure."""
    import matplotlib.pyplot as plt

    if ax is None:
        fig, ax = plt.subplots(figsize=(7, 3.5))
    else:
        fig = ax.figure
    wide = table.pivot(index="dataset", columns="decoder", values=metric)
    wide = wide[[d for d in table["decoder"].drop_duplicates()]]  # decoders in the order they ran
    wide.plot.bar(ax=ax, rot=0)
    ax.set_ylabel(metric.replace("_", " "))
    ax.set_ylim(0, 1)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(title="decoder", fontsize=8)
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------------------------------
# 6. Saving, and the whole chain
# ----------------------------------------------------------------------------------------------------

def save_model(out_dir: str | Path, model: GPTModel, tokenizer: Any, preset: Preset, config: PipelineConfig,
               train_result: Any, results: DecoderResults, wall_time_s: float) -> Path:
    """Write the folder ``t2sql ask --model out_dir`` loads (model with the vocabulary trimmed, tokenizer,
    ``config.json``; ``t2sql_lib.model_folder``), the first report as ``test_report.json``, every
    report under ``reports/`` and the results table as ``results.csv``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    net = trim_vocab(unwrap(model), tokenizer.n_vocab).cpu()
    first = next(iter(results.reports.values())) if results.reports else evaluate([], [])
    save_outputs(out, net, tokenizer, first, preset, config, train_result, wall_time_s)
    for (name, decoder), report in results.reports.items():
        report.save_json(out / "reports" / f"{name}_{decoder}.json")
    results.table.to_csv(out / "results.csv", index=False)
    return out


@dataclass
class PipelineResult:
    """What ``run_pipeline`` measured and where it wrote."""

    results: DecoderResults
    train: Any  # the engine's TrainResult
    out_dir: Path
    model_dir: Path
    n_parameters: int
    wall_time_s: float


def run_pipeline(config: PipelineConfig | None = None, env: DistEnv | None = None,
                 stop_at_step: int | None = None, resume: bool = True) -> PipelineResult | None:
    """Data, tokenizer, model, fine-tuning, scoring with every decoder, saving. Under DDP every rank trains
    and rank 0 alone scores and saves (the others return None). ``resume=True`` continues a run found in
    the output folder (a fresh start when there is none)."""
    from .distributed import setup_distributed

    config = config or PipelineConfig()
    env = env or setup_distributed()
    start = time.perf_counter()
    preset = config.preset_settings()
    out = Path(config.out_dir) if config.out_dir is not None else outputs_dir() / "pipeline" / preset.name
    say = print if env.is_main else (lambda *a, **k: None)

    data = load_all_data(config, preset, env)
    train_names = check_data_names(config.data)
    eval_names = check_data_names(config.eval_data or config.data)
    train_examples = mix(data, train_names, "train", config.data_seed)
    val_examples = mix(data, train_names, "validation", config.data_seed)
    say(data_sizes(data).to_string(index=False))

    kind = config.tokenizer_kind()
    tokenizer = build_tokenizer(kind, train_examples, preset.data.tokenizer_vocab_size,
                                renamed=config.tokenizer_on_renamed and kind == "bpe")
    if not env.is_main:
        barrier(env)  # rank 0 first: GPT-2's weights may have to be downloaded
    model = build_model(preset, tokenizer.n_vocab, config.init)
    if env.is_main:
        barrier(env)
    say(f"tokenizer {kind} ({tokenizer.n_vocab} ids); model from {config.init}: {model.num_parameters() / 1e6:.2f}M "
        f"parameters, vocabulary padded to {model.cfg.vocab_size}")

    sft = build_sft_data(train_examples, val_examples, tokenizer, preset, rename_rate=config.rename_rate,
                         seed=config.data_seed)
    say(sft.summary)
    result = finetune(model, sft, tokenizer, preset, out / "run", val_examples=config.val_examples,
                      max_new_tokens=config.max_new_tokens, resume=resume, stop_at_step=stop_at_step, env=env,
                      progress=config.progress, config=config)
    if not env.is_main or (stop_at_step is not None and result.step < preset.train.max_steps):
        return None  # stopped on purpose: resume later; only rank 0 scores
    best = out / "run" / "checkpoints"
    if result.best_step is not None:
        from .checkpoint import BEST, load_checkpoint

        load_checkpoint(best, model=unwrap(model), which=BEST)
        say(f"best checkpoint: step {result.best_step} ({preset.train.early_stopping_metric} {result.best_metric:.4f})")
    test_sets = {name: seeded_sample(data[name]["test"], config.test_examples, config.data_seed)
                 for name in eval_names}
    results = evaluate_decoders(model, tokenizer, test_sets, config.decoders, max_new_tokens=config.max_new_tokens,
                                progress=True)
    wall = time.perf_counter() - start
    model_dir = save_model(out / "model", model, tokenizer, preset, config, result, results, wall)
    say(results.table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    shown = display_path(model_dir)
    say(f"model and tokenizer in {shown} (t2sql ask --model {shown} --db DB \"question\")")
    return PipelineResult(results, result, out, model_dir, unwrap(model).num_parameters(), wall)


def _plain(config: PipelineConfig | Mapping[str, Any]) -> dict[str, Any]:
    """``config`` (a ``PipelineConfig`` or a mapping) as JSON-ready data: tuples as lists, paths as strings."""
    data = dataclasses.asdict(config) if dataclasses.is_dataclass(config) else dict(config)
    return json.loads(json.dumps(data, default=str))


def run_sft_command(args: Any) -> int:
    """``python -m t2sql_lib.train_cli --task sft ...`` (and its ``torchrun`` form): ``run_pipeline`` on the options."""
    from .distributed import cleanup_distributed, setup_distributed

    test_examples = None if str(args.test_examples) == "all" else int(args.test_examples)
    config = PipelineConfig(preset=args.config, overrides=list(args.overrides), data=check_data_names(args.data),
                            eval_data=check_data_names(args.eval_data) if args.eval_data else None,
                            init=args.init, tokenizer="auto" if args.tokenizer == "auto" else args.tokenizer,
                            wikisql_dir=args.wikisql_dir, spider_dir=args.spider_dir,
                            decoders=[d.strip() for d in args.decoders.split(",") if d.strip()],
                            test_examples=test_examples, val_examples=args.val_examples, out_dir=args.out,
                            progress=not args.no_progress)
    if config.tokenizer not in ("auto", "bpe", "gpt2"):
        raise ValueError(f"--tokenizer {config.tokenizer!r}: --task sft takes auto, bpe or gpt2")
    unknown = [d for d in config.decoders if d not in DECODERS]
    if unknown:
        raise ValueError(f"--decoders: unknown {unknown}; choose from {sorted(DECODERS)}")
    gpt2_name(config.init)  # a bad --init fails here, before any data is loaded
    env = setup_distributed(device=args.device)
    try:
        if env.is_main:
            print(f"preset {config.preset_settings().name}: {env.world_size} process(es) on {env.device}")
        resume = args.resume_from or args.resume or None
        run_pipeline(config, env=env, stop_at_step=args.stop_at_step, resume=resume)
    finally:
        cleanup_distributed()
    return 0
