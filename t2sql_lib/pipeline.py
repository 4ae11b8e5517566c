"""The end-to-end text-to-SQL run of chapter 8: data, tokenizer, model, fine-tuning, scoring, saving.

One function per stage (``load_data``, ``build_tokenizer``, ``build_model``, ``finetune``, ``evaluate_decoders``,
``save_model``), each small enough to call from a notebook cell, and ``run_pipeline`` chaining them;
``t2sql train --task sft`` (and its ``torchrun`` form) runs the same chain from the command line. The vocabulary is
padded for GPU tiles (``padded_vocab_size``) and trimmed again for decoding and saving (``trim_vocab``); each
dataset is scored by its own rules (``t2sql_lib.evaluate``).

``t2sql demo`` (``make demo``) is this run with the ``demo`` preset on the generated data (``t2sql_lib.demo``):
questions about one database share one reading of its schema (``data.questions_per_schema``), part of the training
questions are reworded the way people ask (``data.question_variety``), database values are appended to every
question (``data.value_hints``), and the questions written in people's words are scored too.
"""

from __future__ import annotations

import dataclasses
import json
import os
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
from .distributed import DistEnv, barrier
from .evaluate import EvalReport, evaluate
from .generate import DECODERS
from .model import GPT2_SHAPES, GPTConfig, GPTModel
from .model_folder import save_model_folder, tokenizer_json
from .paths import display_path, outputs_dir
from .schema import Example
from .sft import (
    LengthGroupedBatches,
    SFTCollator,
    SFTDataset,
    SharedSchemaBatches,
    SharedSchemaCollator,
    SharedSchemaLM,
    augment_with_renaming,
    build_tokenizer,
    evaluate_model,
    execution_eval_fn,
    special_id,
)
from .special_tokens import PAD

DATA_NAMES = ("synth", "wikisql", "spider")
DEFAULT_DECODERS = ("greedy", "constrained", "execution_guided")
VOCAB_MULTIPLE = 64


@dataclass
class PipelineConfig:
    """What ``run_pipeline`` does; every field has a default that runs offline on the generated data.
    ``t2sql_lib.demo.DemoConfig`` is the same settings with the demo's defaults."""

    preset: str | None = None  # a preset name or YAML file (None: $T2SQL_PRESET or the hardware's)
    overrides: Sequence[str] = ()  # section.key=value, applied to the preset
    data: Sequence[str] = ("synth",)  # training data, mixed: any of DATA_NAMES
    eval_data: Sequence[str] | None = None  # test sets scored at the end (None: the same as ``data``)
    init: str = "scratch"  # "scratch", "gpt2" (124M), "gpt2-medium" (355M), or a GPT-2 model.safetensors path
    tokenizer: str = "auto"  # "bpe", "gpt2", or "auto": gpt2 when ``init`` is GPT-2 weights, else bpe
    wikisql_dir: str | Path | None = None  # a folder in WikiSQL's format (None: the official release, cached)
    spider_dir: str | Path | None = None  # a Spider folder (None: $T2SQL_SPIDER_DIR, data/raw/spider, ...)
    decoders: Sequence[str] = DEFAULT_DECODERS  # names in generate.DECODERS; the last is the headline
    test_examples: int | None = 200  # questions scored per test set (None: all)
    val_examples: int = 50  # validation questions decoded at each evaluation during training (0: none)
    shuffle_data: bool = True  # mix and sample with data_seed; False: loaders' order, the first k of each split
    max_new_tokens: int = 128  # longest SQL generated, in tokens
    decode_batch_size: int = 32  # prompts decoded at once
    mask_prompt: bool = True  # score only the SQL (and <|endoftext|>); False scores the prompt too
    too_long: str = "truncate_prompt"  # a sequence longer than the context: "truncate_prompt" or "drop"
    rename_rate: float = 0.5  # training examples with renamed schema words (chapter 5's augmentation)
    rename_word_prob: float = 0.5  # in such an example, the chance that each schema word is renamed
    tokenizer_on_renamed: bool = True  # learn the BPE merges with schema words renamed away (see build_tokenizer)
    questions_per_schema: int | None = None  # questions sharing one reading of a schema (None: the preset's)
    schema_views: int | None = None  # times the questions are so grouped (None: the preset's)
    question_variety: float | None = None  # training questions reworded (synth.surface; None: the preset's)
    value_hints: bool | None = None  # database values appended to questions (value_hints; None: the preset's)
    spider_questions: int = 0  # Spider training questions mixed into the generated data's training split
    user_questions: bool | None = None  # score the questions in people's words (None: with the demo preset)
    vocab_multiple: int = VOCAB_MULTIPLE  # the vocabulary is padded to a multiple of this (1: no padding)
    device: str | None = None  # None: a GPU when there is one
    threads: int | None = None  # torch threads on a CPU (None: the CPUs this process may use)
    data_seed: int = 0
    out_dir: str | Path | None = None  # default: outputs/demo for the demo preset, else outputs/pipeline/<preset>
    progress: bool = True
    n_examples_shown: int = 3  # right and wrong predictions printed at the end

    def preset_settings(self) -> Preset:
        """The preset with ``overrides`` applied."""
        return get_preset(self.preset).with_overrides(list(self.overrides))

    def tokenizer_kind(self) -> str:
        """``bpe`` or ``gpt2``: ``auto`` follows ``init``."""
        if self.tokenizer != "auto":
            return self.tokenizer
        return "bpe" if self.init == "scratch" else "gpt2"

    def headline_decoder(self) -> str:
        """The decoder whose score is the headline: the last of ``decoders``."""
        return list(self.decoders)[-1]

    def people_words(self) -> tuple[float, bool]:
        """``(question_variety, value_hints)`` with the preset's filled in."""
        data = self.preset_settings().data
        return (self.question_variety if self.question_variety is not None else data.question_variety,
                self.value_hints if self.value_hints is not None else data.value_hints)

    def scores_user_questions(self) -> bool:
        """``user_questions`` with its default filled in."""
        return self.user_questions if self.user_questions is not None else self.preset == "demo"

    def shared_schema(self) -> tuple[int, int]:
        """``(questions_per_schema, schema_views)`` with the preset's filled in; a loss on every token
        (``mask_prompt=False``) needs every question's own prompt: (1, 1)."""
        data = self.preset_settings().data
        default = (data.questions_per_schema, data.schema_views) if self.mask_prompt else (1, 1)
        return (self.questions_per_schema if self.questions_per_schema is not None else default[0],
                self.schema_views if self.schema_views is not None else default[1])

    def output_folder(self, preset: Preset) -> Path:
        """``out_dir``, or ``outputs/demo`` for the demo preset (where ``t2sql ask`` looks), else
        ``outputs/pipeline/<preset>``."""
        if self.out_dir is not None:
            return Path(self.out_dir)
        return outputs_dir() / "demo" if preset.name == "demo" else outputs_dir() / "pipeline" / preset.name


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
        seed: int | None = 0) -> list[Example]:
    """The ``split`` lists of the datasets ``names``, concatenated and shuffled with ``seed`` (None: in order)."""
    examples = [e for name in names for e in data[name][split]]
    if seed is not None:
        random.Random(seed).shuffle(examples)
    return examples


def test_subset(examples: Sequence[Example], n: int | None, config: PipelineConfig) -> list[Example]:
    """The ``n`` questions scored: a seeded sample, or the first ``n`` when ``config.shuffle_data`` is off."""
    if config.shuffle_data:
        return seeded_sample(examples, n, config.data_seed)
    return list(examples) if n is None else list(examples)[:n]


def people_words_data(config: PipelineConfig, train: Sequence[Example], val: Sequence[Example],
                      test: Sequence[Example]) -> tuple[list[Example], list[Example], list[Example]]:
    """The splits as the run uses them: Spider's questions added to training (``spider_questions``), part of the
    training questions reworded (``question_variety``), and value hints on every split (``value_hints``)."""
    train, val, test = list(train), list(val), list(test)
    if config.spider_questions:
        train += spider_training_questions(config.spider_questions, seed=config.data_seed)
    variety, hints = config.people_words()
    if variety:
        from .synth.surface import vary_examples

        train = vary_examples(train, variety, seed=config.data_seed, value_case=0.3 if hints else 0.0)
    if hints:
        from .value_hints import add_value_hints

        train, val, test = add_value_hints(train), add_value_hints(val), add_value_hints(test)
    return train, val, test


def spider_training_questions(n: int, seed: int = 0) -> list[Example]:
    """Up to ``n`` Spider training questions (a seeded sample) whose SQL is rewritten in the generator's style
    (``sqlglot``: upper-case keywords and functions); none, with a message, when no Spider folder is found."""
    import sqlglot

    from .paths import spider_dir
    from .spider import load_spider

    root = spider_dir()
    if root is None:
        print("spider_questions: no Spider folder ($T2SQL_SPIDER_DIR, data/raw/spider, ../shared): generated data only")
        return []
    examples = list(load_spider(root, "train", hardness=False))
    random.Random(f"t2sql-demo:{seed}:spider").shuffle(examples)
    out = []
    for ex in examples[:n]:
        try:
            sql = sqlglot.transpile(ex.sql, read="sqlite", write="sqlite")[0]
        except sqlglot.errors.SqlglotError:  # a gold query sqlglot cannot read stays out of training
            continue
        out.append(dataclasses.replace(ex, sql=sql))
    print(f"spider: {len(out)} human-written training questions on {len({e.db_id for e in out})} databases")
    return out


@dataclass
class RunData:
    """The examples a run trains, validates and scores on, after the people's-words options."""

    train: list[Example]
    validation: list[Example]
    test_sets: dict[str, list[Example]]  # dataset name -> the questions scored at the end


def prepare_run_data(data: Mapping[str, Mapping[str, Sequence[Example]]], config: PipelineConfig,
                     say: Any = print) -> RunData:
    """Training and validation mixed from ``config.data``, test sets from ``config.eval_data``, with the
    people's-words options (``people_words_data``) and ``test_examples`` questions per test set. Prints what the
    splits hold."""
    train_names = check_data_names(config.data)
    eval_names = check_data_names(config.eval_data or config.data)
    seed = config.data_seed if config.shuffle_data else None
    train, val, _ = people_words_data(config, mix(data, train_names, "train", seed),
                                      mix(data, train_names, "validation", seed), [])
    tests = {name: list(data[name]["test"]) for name in eval_names}
    if config.people_words()[1]:  # asked the way the model is trained: with value hints
        from .value_hints import add_value_hints

        tests = {name: add_value_hints(examples) for name, examples in tests.items()}
    n_varied = sum("template_question" in e.meta for e in train)
    n_hinted = sum("plain_question" in e.meta for e in train)
    test_dbs = sorted({e.db_id for examples in tests.values() for e in examples})
    say(f"data: {len(train)} train questions ({n_varied} reworded, {n_hinted} with value hints) on "
          f"{len({e.db_id for e in train})} databases, {len(val)} validation on {sorted({e.db_id for e in val})}, "
          f"{sum(map(len, tests.values()))} test on {test_dbs}")
    return RunData(train, val, {name: test_subset(ex, config.test_examples, config) for name, ex in tests.items()})


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


def model_config(preset: Preset, n_vocab: int, init: str = "scratch", vocab_multiple: int = VOCAB_MULTIPLE
                 ) -> GPTConfig:
    """The model's shape: the preset's (``scratch``) or GPT-2's (context cut to the preset's), with the
    vocabulary padded to a multiple of ``vocab_multiple`` and at least the tokenizer's ``n_vocab``."""
    name = gpt2_name(init)
    if name is None:
        return dataclasses.replace(preset.model, vocab_size=padded_vocab_size(n_vocab, vocab_multiple))
    base = GPTConfig.gpt2(name)
    return dataclasses.replace(base, vocab_size=padded_vocab_size(max(n_vocab, base.vocab_size), vocab_multiple),
                               context_length=min(preset.model.context_length, base.context_length),
                               drop_rate=preset.model.drop_rate)


def build_model(preset: Preset, n_vocab: int, init: str = "scratch", seed: int | None = None,
                vocab_multiple: int = VOCAB_MULTIPLE) -> GPTModel:
    """A ``GPTModel`` from random weights (seeded with ``seed``, default the preset's) or from GPT-2's, its
    vocabulary padded to a multiple of ``vocab_multiple``."""
    cfg = model_config(preset, n_vocab, init, vocab_multiple)
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
    model = unwrap(model)
    if n_vocab == model.cfg.vocab_size:  # nothing to cut
        return model
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
    """The engine's inputs: ready-made training batches, validation SQL data, and what they hold."""

    train: LengthGroupedBatches | SharedSchemaBatches
    validation: LengthGroupedBatches | SharedSchemaBatches | None
    val_examples: list[Example]
    summary: str
    stats: dict[str, str] = field(default_factory=dict)  # the datasets' one-line summaries

    @property
    def shared_schema(self) -> bool:
        """Whether questions share one reading of their schema (read by ``SharedSchemaLM``)."""
        return isinstance(self.train, SharedSchemaBatches)


def build_sft_data(train_examples: Sequence[Example], val_examples: Sequence[Example], tokenizer: Any,
                   preset: Preset, config: PipelineConfig | None = None) -> SFTData:
    """Chapter 5's format, prompt masked out of the loss (``config.mask_prompt``), part of the training set with
    renamed schema words (``config.rename_rate``). With ``questions_per_schema`` > 1 (``config.shared_schema``),
    ``SharedSchemaBatches``: each schema read once for that many questions; else batches of similar lengths. The
    validation loss is always the SQL's, read the training way. The datasets' warnings about dropped or cut
    questions are left out: the summary counts them."""
    config = config or PipelineConfig()
    per_schema, views = config.shared_schema()
    if per_schema > 1 and not config.mask_prompt:
        raise ValueError("questions_per_schema > 1 scores the SQL only: it needs mask_prompt=True")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"(SFTDataset|SharedSchemaBatches): ", category=UserWarning)
        if per_schema > 1:
            return _shared_schema_data(train_examples, val_examples, tokenizer, preset, config, per_schema, views)
        return _length_grouped_data(train_examples, val_examples, tokenizer, preset, config)


def _shared_schema_data(train_examples: Sequence[Example], val_examples: Sequence[Example], tokenizer: Any,
                        preset: Preset, config: PipelineConfig, per_schema: int, views: int) -> SFTData:
    """``build_sft_data`` for questions that share a schema (chapter 5's ``SharedSchemaBatches``)."""
    max_len, s = preset.model.context_length, preset.train
    t0 = time.perf_counter()
    train = SharedSchemaBatches(train_examples, tokenizer, max_length=max_len, batch_size=s.batch_size,
                                questions_per_schema=per_schema, rename_rate=config.rename_rate,
                                rename_word_prob=config.rename_word_prob, views=views, seed=s.seed)
    validation = SharedSchemaBatches(val_examples, tokenizer, max_length=max_len, batch_size=s.batch_size,
                                     questions_per_schema=per_schema, seed=s.seed) if val_examples else None
    n_renamed = sum("renamed" in ex.meta for batch in train.examples for ex in batch)
    counts = train.token_counts()
    summary = (f"shared schemas: {len(train)} batches of {s.batch_size // per_schema} schemas x {per_schema} "
               f"questions ({views} grouping(s)); {counts['read'] / train.stats.kept:.0f} tokens read per question "
               f"({counts['one_prompt_each'] / train.stats.kept:.0f} with a prompt each; "
               f"{time.perf_counter() - t0:.1f} s)\n"
               f"train: {train.stats.summary()}; {n_renamed} with renamed schema words; "
               f"{train.n_scored_tokens():,} scored tokens per epoch (SQL only)")
    return SFTData(train, validation, list(val_examples), summary, _stats(train, validation))


def _length_grouped_data(train_examples: Sequence[Example], val_examples: Sequence[Example], tokenizer: Any,
                         preset: Preset, config: PipelineConfig) -> SFTData:
    """``build_sft_data`` with a prompt per question, in batches of similar lengths (``LengthGroupedBatches``)."""
    max_len, s = preset.model.context_length, preset.train
    train_aug = augment_with_renaming(train_examples, config.rename_rate, seed=s.seed,
                                      word_prob=config.rename_word_prob)
    n_renamed = sum(a is not b for a, b in zip(train_aug, train_examples))
    train_ds = SFTDataset(train_aug, tokenizer, max_length=max_len, mask_prompt=config.mask_prompt,
                          too_long=config.too_long)
    val_ds = SFTDataset(val_examples, tokenizer, max_length=max_len, too_long=config.too_long) \
        if val_examples else None
    batch = min(s.batch_size, len(train_ds))
    train = LengthGroupedBatches(train_ds, batch, seed=s.seed)
    validation = LengthGroupedBatches(val_ds, batch, seed=s.seed) if val_ds is not None and len(val_ds) >= batch \
        else None
    summary = (f"train: {train_ds.stats.summary()}; {n_renamed} with renamed schema words; "
               f"{train_ds.n_scored_tokens():,} scored tokens per epoch "
               f"({'SQL only' if config.mask_prompt else 'every token'}), {len(train)} batches of {batch}\n"
               f"length-grouped batches: {train.padding_fraction():.0%} padding "
               f"(random batches: {LengthGroupedBatches(train_ds, batch, s.seed, 1).padding_fraction():.0%})")
    if val_ds is not None:
        summary += f"\nvalidation: {val_ds.stats.summary()}"
    return SFTData(train, validation, list(val_examples), summary, _stats(train_ds, val_ds))


def _stats(train: Any, validation: Any) -> dict[str, str]:
    """The one-line summaries of a run's training and validation datasets."""
    return {"train": train.stats.summary(), **({"validation": validation.stats.summary()} if validation else {})}


def finetune(model: GPTModel, data: SFTData, tokenizer: Any, preset: Preset, out_dir: str | Path, *,
             val_examples: int = 50, max_new_tokens: int = 128, decode_batch_size: int = 32,
             resume: bool | str | Path | None = None, stop_at_step: int | None = None, env: DistEnv | None = None,
             progress: bool = True, verbose: bool = True, config: PipelineConfig | Mapping[str, Any] | None = None,
             callback: Any = None, pad_to_multiple_of: int | None = None):
    """Train with ``t2sql_lib.train.train``: one ready-made batch per micro-batch, the SQL loss on the
    validation examples and, when ``val_examples`` > 0, the execution accuracy of greedy SQL on the first that
    many of them at each evaluation. ``resume=True`` continues from ``out_dir``'s latest checkpoint; ``callback``
    goes to the engine (a live plot). Batches are padded to a multiple of ``pad_to_multiple_of`` tokens (default:
    64 on a GPU, where few distinct shapes spare ``torch.compile`` recompilations, else 1). Returns the
    engine's ``TrainResult``."""
    from .train import RunOptions, TrainTask, train

    n_vocab = tokenizer.n_vocab
    eval_fn = None
    subset = data.val_examples[:val_examples]
    if subset:
        inner = execution_eval_fn(tokenizer, subset, prefix="val", max_new_tokens=max_new_tokens,
                                  batch_size=decode_batch_size)

        def eval_fn(m):  # decode with the padding rows cut off: a padding id has no text
            return inner(trim_vocab(m, n_vocab))

    settings = dataclasses.replace(preset.train, batch_size=1)  # each item is already a batch
    model_cfg = dataclasses.asdict(unwrap(model).cfg)
    if pad_to_multiple_of is None:
        on_gpu = env.device.type == "cuda" if env is not None else torch.cuda.is_available()
        pad_to_multiple_of = 64 if on_gpu else 1
    pad = special_id(tokenizer, PAD)
    if data.shared_schema:  # groups of questions under one schema, read by SharedSchemaLM
        collate, wrap = SharedSchemaCollator(pad), SharedSchemaLM
    else:
        collate, wrap = SFTCollator(pad, pad_to_multiple_of=pad_to_multiple_of,
                                    max_length=preset.model.context_length), None
    task = TrainTask(val_data=data.validation, eval_fn=eval_fn, collate_fn=collate, wrap_model=wrap)
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


USER_PHRASED = "user-phrased"  # the test set of questions written in people's words
RESULT_COLUMNS = ("dataset", "decoder", "questions", "execution_accuracy", "exact_match", "valid_sql",
                  "logical_form_accuracy", "s_per_query")


def evaluate_decoders(model: GPTModel, tokenizer: Any, test_sets: Mapping[str, Sequence[Example]],
                      decoders: Sequence[str] = DEFAULT_DECODERS, *, max_new_tokens: int = 128,
                      batch_size: int = 32, progress: bool = False, info: Mapping[str, Any] | None = None
                      ) -> DecoderResults:
    """Write SQL for every test set with every decoder (chapter 5's ``evaluate_model``), execute it and score it.

    Columns of the table: ``RESULT_COLUMNS``; ``logical_form_accuracy`` is WikiSQL's own metric (NaN for the
    other datasets). The model is decoded with its vocabulary trimmed to the tokenizer's; ``info`` goes into
    every report.
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
            start = time.perf_counter()
            with warnings.catch_warnings():  # prompts cut at the front are counted in the report's info
                warnings.filterwarnings("ignore", message="predict_sql: ", category=UserWarning)
                report = evaluate_model(net, tokenizer, examples, max_new_tokens=max_new_tokens,
                                        batch_size=batch_size, decoding=decoder,
                                        info={**(info or {}), "dataset": name, "decoder": decoder})
            seconds = time.perf_counter() - start
            reports[(name, decoder)] = report
            summary = report.summary()["all"]
            rows.append({"dataset": name, "decoder": decoder, "questions": len(examples),
                         **{m: float(summary.get(m, float("nan"))) for m in RESULT_COLUMNS[3:7]},
                         "s_per_query": seconds / len(examples)})
            if progress:
                print(f"{name} / {decoder}: execution accuracy {rows[-1]['execution_accuracy']:.3f} "
                      f"({len(examples)} questions)")
    return DecoderResults(pd.DataFrame(rows, columns=list(RESULT_COLUMNS)), reports)


def user_question_set(config: PipelineConfig) -> dict[str, list[Example]]:
    """``{"user-phrased": questions}``: the questions in people's words about the generated test databases
    (with value hints when the run uses them), or ``{}`` when ``config`` does not score them."""
    if not config.scores_user_questions():
        return {}
    from .user_questions import load_user_questions

    user_test = load_user_questions("test")
    if config.people_words()[1]:
        from .value_hints import add_value_hints

        user_test = add_value_hints(user_test)
    return {USER_PHRASED: user_test}


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
    """Write the folder ``t2sql ask --model out_dir`` loads (``t2sql_lib.model_folder``: the model with its
    vocabulary trimmed, the tokenizer, ``config.json`` with the preset and the run's settings), the headline report
    as ``test_report.json`` (and the user-phrased one as ``user_report.json``), every report under ``reports/``,
    the results table as ``results.csv`` and the accuracy plot."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    net = trim_vocab(unwrap(model), tokenizer.n_vocab).cpu()
    settings = _plain(config)
    # what the run used, defaults filled in: `t2sql ask` gives the model value hints when it was trained with them
    settings["question_variety"], settings["value_hints"] = config.people_words()
    save_model_folder(out, net, tokenizer, {"preset": preset.to_dict(), "demo": settings})
    report = headline_report(results, config) or evaluate([], [])
    report.info.update(wall_time_s=round(wall_time_s, 1), steps=train_result.step, evals=train_result.evals)
    report.save_json(out / "test_report.json")
    if (USER_PHRASED, config.headline_decoder()) in results.reports:
        results.reports[(USER_PHRASED, config.headline_decoder())].save_json(out / "user_report.json")
    for (name, decoder), each in results.reports.items():
        each.save_json(out / "reports" / f"{name}_{decoder}.json")
    results.table.to_csv(out / "results.csv", index=False)
    _save_plot(train_result, out / "accuracy_vs_step.png")
    return out


def _save_plot(train_result: Any, path: Path) -> None:
    """The validation metrics against the step, drawn on a Figure outside pyplot (the session's backend and open
    figures are left alone)."""
    try:
        from matplotlib.figure import Figure

        from .train import plot_metrics

        fig = Figure(figsize=(7, 4))
        plot_metrics(train_result, ax=fig.subplots())
        fig.savefig(path, dpi=100)
    except ImportError as err:  # the plot is a convenience; the numbers are already saved
        print(f"no plot: {err}")


def headline_report(results: DecoderResults, config: PipelineConfig, greedy: bool = False) -> EvalReport | None:
    """The first test set's report with the headline decoder (``greedy``: with greedy decoding; None when greedy
    was not scored)."""
    names = [name for name, _ in results.reports if name != USER_PHRASED]
    if not names:
        return None
    return results.reports.get((names[0], "greedy" if greedy else config.headline_decoder()))


@dataclass
class PipelineResult:
    """What ``run_pipeline`` measured and where it wrote."""

    results: DecoderResults
    train: Any  # the engine's TrainResult
    out_dir: Path  # the model folder (t2sql ask --model out_dir), with the reports; the run's logs in out_dir/run
    n_parameters: int
    wall_time_s: float  # everything: data, tokenizer, training, evaluations, saving
    train_time_s: float = 0.0  # the engine's loop, periodic evaluations included
    test_time_s: float = 0.0  # the final scoring
    report: EvalReport | None = None  # the headline: the first test set with the headline decoder
    greedy_report: EvalReport | None = None  # the same questions decoded greedily (None: greedy not scored)
    user_report: EvalReport | None = None  # the questions in people's words, headline decoder
    user_greedy_report: EvalReport | None = None
    data_stats: dict[str, str] = field(default_factory=dict)
    threads: int = 1

    @property
    def model_dir(self) -> Path:
        """The folder ``t2sql ask --model`` loads: ``out_dir``."""
        return self.out_dir

    @property
    def steps(self) -> int:
        """Training steps run."""
        return self.train.step

    @property
    def evals(self) -> list[dict[str, float]]:
        """Every periodic evaluation's metrics."""
        return self.train.evals

    @property
    def best_step(self) -> int | None:
        """The step of the checkpoint kept (the best validation metric)."""
        return self.train.best_step

    def best_eval(self) -> dict[str, float]:
        """The evaluation at ``best_step`` (empty when there is none)."""
        return next((e for e in self.evals if e["step"] == self.best_step), {})

    @property
    def best_val_loss(self) -> float | None:
        """The validation SQL loss at ``best_step``."""
        return self.best_eval().get("val_loss")

    @property
    def best_val_execution_accuracy(self) -> float | None:
        """The validation execution accuracy at ``best_step``."""
        return self.best_eval().get("val_execution_accuracy")

    def metrics(self) -> dict[str, float]:
        """The headline numbers on the test databases."""
        s = self.report.summary()["all"]
        out = {k: float(s[k]) for k in ("execution_accuracy", "exact_match", "valid_sql")}
        if self.user_report is not None:
            out["user_execution_accuracy"] = float(self.user_report.summary()["all"]["execution_accuracy"])
        return out


def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask where the OS has one, else the machine's count)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def cpu_precision(requested: str, device: torch.device | str = "cpu") -> str:
    """What the engine will train in on ``device`` for ``train.precision=requested`` (its warning comes later)."""
    from .hardware import resolve_precision

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return resolve_precision(requested, torch.device(device).type)


def build_run_model(config: PipelineConfig, preset: Preset, tokenizer: Any, env: DistEnv, threads: int,
                    say: Any = print) -> GPTModel:
    """``build_model`` under DDP (rank 0 first: GPT-2's weights may have to be downloaded), and a line on it."""
    if not env.is_main:
        barrier(env)
    model = build_model(preset, tokenizer.n_vocab, config.init, vocab_multiple=config.vocab_multiple)
    if env.is_main:
        barrier(env)
    cfg, s = model.cfg, preset.train
    padded = f", vocabulary padded to {cfg.vocab_size}" if cfg.vocab_size != tokenizer.n_vocab else ""
    where = f"{threads} CPU thread(s)" if env.device.type == "cpu" else str(env.device)
    say(f"model: {cfg.n_layers} layers x {cfg.emb_dim} d_model, context {cfg.context_length}, "
        f"{model.num_parameters() / 1e6:.2f}M parameters from {config.init}{padded}; {s.max_steps} steps of "
        f"{s.batch_size * s.grad_accum_steps} sequences on {where} in {cpu_precision(s.precision, env.device)}, "
        f"execution accuracy on {config.val_examples} validation questions every {s.eval_every} steps")
    return model


def run_pipeline(config: PipelineConfig | None = None, env: DistEnv | None = None,
                 stop_at_step: int | None = None, resume: bool | str | Path | None = True) -> PipelineResult | None:
    """Data, tokenizer, model, fine-tuning, scoring with every decoder, saving, and a summary. Under DDP every rank
    trains and rank 0 alone scores and saves (the others return None). ``resume=True`` continues a run found in
    the output folder (a fresh start when there is none); None starts afresh."""
    from .distributed import setup_distributed

    config = config or PipelineConfig()
    env = env or setup_distributed(device=config.device)
    start = time.perf_counter()
    threads = config.threads or available_cpus()
    if env.device.type == "cpu" and env.world_size == 1:
        torch.set_num_threads(threads)  # one thread per core: more only contend
    preset = config.preset_settings()
    out = config.output_folder(preset)
    say = print if env.is_main else (lambda *a, **k: None)

    data = load_all_data(config, preset, env)
    if len(data) > 1:
        say(data_sizes(data).to_string(index=False))
    run_data = prepare_run_data(data, config, say)
    t0 = time.perf_counter()
    kind = config.tokenizer_kind()
    tokenizer = build_tokenizer(kind, run_data.train, preset.data.tokenizer_vocab_size,
                                renamed=config.tokenizer_on_renamed and kind == "bpe", cache_dir=out.parent / "cache")
    say(f"tokenizer: {kind}, {tokenizer.n_vocab} ids ({time.perf_counter() - t0:.1f} s)")
    sft = build_sft_data(run_data.train, run_data.validation, tokenizer, preset, config)
    say(sft.summary)
    model = build_run_model(dataclasses.replace(config, val_examples=min(config.val_examples, len(sft.val_examples))),
                            preset, tokenizer, env, threads, say)
    t0 = time.perf_counter()
    result = finetune(model, sft, tokenizer, preset, out / "run", val_examples=config.val_examples,
                      max_new_tokens=config.max_new_tokens, decode_batch_size=config.decode_batch_size,
                      resume=resume, stop_at_step=stop_at_step, env=env, progress=config.progress, config=config)
    train_time = time.perf_counter() - t0
    if not env.is_main or (stop_at_step is not None and result.step < preset.train.max_steps):
        return None  # stopped on purpose: resume later; only rank 0 scores
    if result.best_step is not None:
        from .checkpoint import BEST, has_checkpoint, load_checkpoint

        if has_checkpoint(out / "run" / "checkpoints"):
            loaded = load_checkpoint(out / "run" / "checkpoints", model=unwrap(model), which=BEST)
            say(f"loaded the best checkpoint: step {loaded['step']}, {preset.train.early_stopping_metric} "
                f"{result.best_metric:.4f}")
    t0 = time.perf_counter()
    results = evaluate_decoders(model, tokenizer, {**run_data.test_sets, **user_question_set(config)},
                                config.decoders, max_new_tokens=config.max_new_tokens,
                                batch_size=config.decode_batch_size, info={"split": "test", "step": result.best_step})
    test_time, wall = time.perf_counter() - t0, time.perf_counter() - start
    save_model(out, model, tokenizer, preset, config, result, results, wall)
    headline = config.headline_decoder()
    outcome = PipelineResult(results, result, out, unwrap(model).num_parameters(), wall, train_time, test_time,
                             headline_report(results, config), headline_report(results, config, greedy=True),
                             results.reports.get((USER_PHRASED, headline)),
                             results.reports.get((USER_PHRASED, "greedy")), sft.stats, threads)
    print_summary(outcome, config)
    return outcome


def _short(text: Any, width: int) -> str:
    text = "" if text is None else str(text)
    return text if len(text) <= width else text[: width - 3] + "..."


def examples_table(report: EvalReport, correct: bool, n: int) -> list[dict[str, Any]]:
    """Up to ``n`` per-example records whose execution match is ``correct`` (in test-split order)."""
    rows = [r for r in report.records if bool(r.get("execution_accuracy")) == correct]
    return [{k: r.get(k) for k in ("db_id", "question", "gold", "prediction", "valid_sql", "error")} for r in rows[:n]]


def print_examples(report: EvalReport, n_shown: int) -> None:
    """A few right and wrong predictions of ``report``, with the gold query."""
    for correct, title in ((True, "right"), (False, "wrong")):
        rows = examples_table(report, correct, n_shown)
        if rows:
            print(f"\n{title} on the test databases:")
        for r in rows:
            print(f"  [{r['db_id']}] {_short(r['question'], 100)}\n    gold: {_short(r['gold'], 100)}\n"
                  f"    pred: {_short(r['prediction'], 100)}"
                  + ("" if correct or r["valid_sql"] else f"\n    error: {_short(r['error'], 100)}"))


def print_summary(outcome: PipelineResult, config: PipelineConfig) -> None:
    """The results table, a few right and wrong predictions, the headline numbers and where everything went."""
    print(outcome.results.table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    report, greedy = outcome.report, outcome.greedy_report
    if report is None:
        return
    print_examples(report, config.n_examples_shown)
    print(f"\n{report}")
    decoding = report.info.get("decoding", "greedy")
    if greedy is not None and greedy is not report:
        g = greedy.summary()["all"]
        print(f"\ngreedy decoding on the same questions: execution accuracy {g['execution_accuracy']:.1%}, "
              f"exact match {g['exact_match']:.1%}, valid SQL {g['valid_sql']:.1%}")
    m = outcome.metrics()
    print(f"\nheld-out test databases ({report.counts()['questions']} questions, {decoding} decoding, scored in "
          f"{outcome.test_time_s:.0f} s): execution accuracy {m['execution_accuracy']:.1%}, exact match "
          f"{m['exact_match']:.1%}, valid SQL {m['valid_sql']:.1%}")
    if outcome.user_report is not None:
        u = outcome.user_report.summary()["all"]
        ug = outcome.user_greedy_report.summary()["all"] if outcome.user_greedy_report is not None else u
        print(f"questions in people's words about the test databases ({outcome.user_report.counts()['questions']}): "
              f"execution accuracy {u['execution_accuracy']:.1%} ({decoding}), {ug['execution_accuracy']:.1%} "
              f"(greedy); valid SQL {u['valid_sql']:.1%}")
    best = "n/a" if outcome.best_val_loss is None else (
        f"SQL loss {outcome.best_val_loss:.4f}, execution accuracy {outcome.best_val_execution_accuracy:.3f}")
    shown = display_path(outcome.out_dir)
    print(f"trained {outcome.steps} steps in {outcome.train_time_s:.0f} s (best validation: {best} at step "
          f"{outcome.best_step}); total wall time {outcome.wall_time_s:.0f} s ({outcome.wall_time_s / 60:.1f} min) "
          f"on {outcome.threads} thread(s); outputs in {shown} (t2sql ask --model {shown} --db DB \"question\")")


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
