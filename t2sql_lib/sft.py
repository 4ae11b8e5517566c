"""Supervised fine-tuning for text-to-SQL: the prompt/SQL format, padding, loss masking, decoding and scoring.

One training example is the prompt followed by its target::

    <|schema|> ...schema... <|question|> ...question... <|sql|>  SELECT ...<|endoftext|>
    └──────────────────── prompt: read, not scored ───────────┘ └─ target: scored ─┘

``SFTDataset`` turns ``Example`` objects into ``(input_ids, target_ids)`` pairs (targets are the inputs
shifted by one). With ``mask_prompt=True`` every target that is a prompt token is ``-100``, so the loss is
the SQL's (and ``<|endoftext|>``'s) alone; ``mask_prompt=False`` scores every token, for the comparison.
Sequences longer than the context are dropped or cut at the front of the schema, by an explicit policy,
and counted. ``SFTCollator`` pads a batch on the right (inputs with ``<|pad|>``, targets with ``-100``).

For evaluation, ``greedy_generate`` decodes many prompts at once with the model's key/value cache
(``t2sql_lib.generate``; same result as ``model.generate_greedy``, far fewer FLOPs), ``predict_sql``
turns its output into SQL strings, and ``evaluate_model`` scores them with ``t2sql_lib.evaluate``.
"""

from __future__ import annotations

import dataclasses
import math
import random
import re
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.utils.data import Dataset

from .evaluate import EvalReport, evaluate
from .generate import DECODERS, attention_mask, decode_sql, generate, supports_kv_cache
from .model import KVCache
from .prompts import build_prompt, build_target, serialize_schema
from .schema import Column, Example, ForeignKey, Schema, Table
from .special_tokens import ENDOFTEXT, PAD, QUESTION, SPECIAL_TOKENS

IGNORE_INDEX = -100  # a target the loss skips: PyTorch's cross_entropy default, and t2sql_lib.train's
TOO_LONG_POLICIES = ("drop", "truncate_prompt", "error")


# ----------------------------------------------------------------------------------------------------
# Tokenizers: the chapter-1 BPETokenizer and tiktoken encodings answer the same three questions
# ----------------------------------------------------------------------------------------------------

def special_id(tokenizer: Any, token: str) -> int:
    """The id of special token ``token`` in a ``BPETokenizer`` or a ``tiktoken.Encoding``."""
    specials = getattr(tokenizer, "special_tokens", None)
    if isinstance(specials, dict) and token in specials:  # BPETokenizer
        return int(specials[token])
    encode_single = getattr(tokenizer, "encode_single_token", None)
    if encode_single is not None:  # tiktoken
        try:
            return int(encode_single(token))
        except KeyError:
            pass
    raise ValueError(f"the tokenizer has no special token {token!r}; the prompt format needs {list(SPECIAL_TOKENS)}")


def fast_encoder(tokenizer: Any) -> Any:
    """An object with the same ids and a faster ``encode``: a ``BPETokenizer``'s tiktoken twin, else itself."""
    to_tiktoken = getattr(tokenizer, "to_tiktoken", None)
    return to_tiktoken() if to_tiktoken is not None else tokenizer


def _check_no_special_text(text: str, what: str) -> None:
    """Text that spells a special token would be read as that token and break the prompt's structure."""
    for token in SPECIAL_TOKENS:
        if token in text:
            raise ValueError(f"{what} contains the special token {token!r}: {text[:80]!r}")


def encode_prompt(tokenizer: Any, example: Example, sample_values: Any = None) -> list[int]:
    """Token ids of ``build_prompt(example.schema, example.question)``."""
    _check_no_special_text(example.question, f"the question of an example on {example.db_id!r}")
    return tokenizer.encode(build_prompt(example.schema, example.question, sample_values), allowed_special="all")


def encode_target(tokenizer: Any, sql: str) -> list[int]:
    """Token ids of ``build_target(sql)``: the SQL, then ``<|endoftext|>``."""
    _check_no_special_text(sql, "a gold SQL query")
    return tokenizer.encode(build_target(sql), allowed_special="all")


# ----------------------------------------------------------------------------------------------------
# Augmentation: rename the schema's words, so that the model must copy names from the prompt
# ----------------------------------------------------------------------------------------------------

_LETTERS = re.compile(r"[A-Za-z]+")  # words inside identifiers too: "growing_days" is "growing" and "days"
_CONSONANTS, _VOWELS = "bdfgklmnprstvz", "aeiou"


def _pseudo_word(rng: random.Random, taken: set[str]) -> str:
    """A pronounceable word no schema has (``kavodi``), different from those in ``taken``."""
    while True:
        word = "".join(rng.choice(_CONSONANTS) + rng.choice(_VOWELS) for _ in range(rng.randint(2, 3)))
        if word not in taken:
            taken.add(word)
            return word


def _word_forms(words: set[str]) -> dict[str, str]:
    """Each word's stem: ``dishes`` and ``dish`` share ``dish``, ``properties`` and ``property`` share ``property``."""
    stems = {}
    for w in words:
        if w.endswith("ies") and w[:-3] + "y" in words:
            stems[w] = w[:-3] + "y"
        elif w.endswith("es") and w[:-2] in words:
            stems[w] = w[:-2]
        elif w.endswith("s") and w[:-1] in words:
            stems[w] = w[:-1]
        else:
            stems[w] = w
    return stems


def rename_schema_words(example: Example, rng: random.Random, word_prob: float = 0.5,
                        keep: frozenset[str] = frozenset({"id"})) -> Example:
    """A copy of ``example`` with some words of its table and column names replaced by made-up words,
    the same way in the schema, the question and the SQL (``loan_fee`` of ``loans`` becomes ``vabo_fee``
    of ``vabos``, and the question's "loan fee" becomes "vabo fee").

    Why: a model trained on two dozen databases can learn their names by heart and write them whatever the
    schema says; on a new database it then writes names it never read. A name it cannot have memorised
    must be read from the prompt, which is what a new database asks for. Each lower-case word of two or
    more letters (except ``keep``) is renamed with probability ``word_prob``; singular and plural forms
    (``dish``/``dishes``) get the same new stem. The renamed example is for training only: its SQL no
    longer runs on the database. Upper-case SQL keywords never match (only lower-case and capitalised
    forms of the words are replaced), nor do words of values that are not schema words.
    """
    words = {w for t in example.schema.tables for name in (t.name, *(c.name for c in t.columns))
             for w in _LETTERS.findall(name) if w.islower() and len(w) > 2 and w not in keep}
    stems = _word_forms(words)
    taken = set(words)
    new_stem = {stem: _pseudo_word(rng, taken) for stem in sorted(set(stems.values())) if rng.random() < word_prob}
    if not new_stem:
        return example
    mapping: dict[str, str] = {}
    for stem, new in new_stem.items():
        mapping[stem] = new
        mapping[stem + "s"] = new + "s"  # the plural a question uses even when no identifier does
    for w, stem in stems.items():
        if stem in new_stem:
            mapping[w] = new_stem[stem] + ("s" if w != stem else "")
    mapping.update({w.capitalize(): new.capitalize() for w, new in list(mapping.items())})  # "Loans" opens a question

    def rename(text: str) -> str:
        return _LETTERS.sub(lambda m: mapping.get(m.group(0), m.group(0)), text)

    schema = example.schema
    tables = tuple(Table(rename(t.name), tuple(Column(rename(c.name), c.type, c.display_name) for c in t.columns),
                         tuple(rename(p) for p in t.primary_key), t.display_name) for t in schema.tables)
    fks = tuple(ForeignKey(rename(f.table), rename(f.column), rename(f.ref_table), rename(f.ref_column))
                for f in schema.foreign_keys)
    meta = {**example.meta, "renamed": {k: v for k, v in mapping.items() if k.islower()}}
    return Example(rename(example.question), rename(example.sql), example.db_id, example.db_path,
                   Schema(schema.db_id, tables, fks), meta)


def augment_with_renaming(examples: Sequence[Example], rate: float, seed: int = 0,
                          word_prob: float = 0.5) -> list[Example]:
    """``examples`` with a fraction ``rate`` of them (chosen with ``seed``) passed through ``rename_schema_words``."""
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"rate={rate}: expected a fraction between 0 and 1")
    rng = random.Random(seed)
    return [rename_schema_words(ex, rng, word_prob) if rng.random() < rate else ex for ex in examples]


# ----------------------------------------------------------------------------------------------------
# The dataset: prompt + target ids, loss masking, a truncation policy with counts
# ----------------------------------------------------------------------------------------------------

@dataclass
class SFTStats:
    """What building an ``SFTDataset`` did with the examples it was given."""

    total: int = 0
    kept: int = 0
    truncated: int = 0  # kept, with the front of the prompt cut off
    dropped: int = 0  # left out: too long for the context (or the target alone was)
    max_length: int = 0  # the longest kept sequence, in tokens
    lengths: list[int] = field(default_factory=list, repr=False)  # each kept sequence's length

    def summary(self) -> str:
        """One line, e.g. ``14120 examples: 14120 kept (0 truncated), 0 dropped; longest 230 tokens``."""
        return (f"{self.total} examples: {self.kept} kept ({self.truncated} truncated), {self.dropped} dropped "
                f"as too long; longest {self.max_length} tokens")


class SFTDataset(Dataset):
    """``Example`` objects as ``(input_ids, target_ids)`` pairs for supervised fine-tuning.

    The sequence is ``prompt + target`` (``build_prompt`` then ``build_target``, which ends in
    ``<|endoftext|>``); ``input_ids`` is all but its last token and ``target_ids`` all but its first.
    ``mask_prompt=True`` sets every target that predicts a prompt token to ``-100`` (not scored), so the
    first scored target is the first SQL token, predicted at ``<|sql|>``; ``False`` scores every token.

    A sequence whose ``input_ids`` would exceed ``max_length`` (the model's context) is handled by
    ``too_long``: ``"drop"`` leaves it out, ``"truncate_prompt"`` cuts tokens from the front of the
    prompt (the start of the schema; the question and the SQL stay whole) and drops it only when the
    target alone does not fit, ``"error"`` raises naming how many. Counts are in ``stats``, and a warning
    says how many were cut or dropped.
    """

    def __init__(self, examples: Sequence[Example], tokenizer: Any, *, max_length: int, mask_prompt: bool = True,
                 too_long: str = "drop", sample_values: Any = None):
        if too_long not in TOO_LONG_POLICIES:
            raise ValueError(f"too_long={too_long!r}: expected one of {TOO_LONG_POLICIES}")
        if max_length < 2:
            raise ValueError(f"max_length={max_length} leaves no room for a prompt and its SQL")
        self.max_length = max_length
        self.mask_prompt = mask_prompt
        self.too_long = too_long
        encoder = fast_encoder(tokenizer)
        self.examples: list[Any] = []  # the examples kept, in order (item i comes from examples[i])
        self._add_pairs(((ex, encode_prompt(encoder, ex, sample_values), encode_target(encoder, ex.sql))
                         for ex in examples), total=len(examples))

    def _add_pairs(self, pairs: Any, total: int) -> None:
        """Keep each ``(source, prompt_ids, target_ids)`` of ``pairs`` under the ``too_long`` policy, counting in
        ``stats``; a subclass for another prompt format (chapter 7's ``InstructionDataset``) encodes and calls this."""
        max_length, too_long = self.max_length, self.too_long
        self.stats = SFTStats(total=total)
        self.sequences: list[torch.Tensor] = []  # prompt + target ids
        self.prompt_lengths: list[int] = []
        too_long_found = 0
        for source, prompt, target in pairs:
            excess = len(prompt) + len(target) - 1 - max_length  # the inputs are the sequence less one token
            if excess > 0:
                too_long_found += 1
                if too_long == "error":
                    continue
                if too_long == "drop" or excess >= len(prompt):
                    self.stats.dropped += 1
                    continue
                prompt = prompt[excess:]
                self.stats.truncated += 1
            self.examples.append(source)
            self.sequences.append(torch.tensor(prompt + target, dtype=torch.long))
            self.prompt_lengths.append(len(prompt))
        if too_long == "error" and too_long_found:
            raise ValueError(f"{too_long_found} of {total} examples are longer than max_length={max_length} "
                             "tokens; raise the context length or pass too_long='drop'/'truncate_prompt'")
        self.stats.kept = len(self.sequences)
        self.stats.lengths = [len(s) - 1 for s in self.sequences]
        self.stats.max_length = max(self.stats.lengths, default=0)
        if self.stats.truncated or self.stats.dropped:
            warnings.warn(f"{type(self).__name__}: {self.stats.summary()} (max_length {max_length}, policy "
                          f"{too_long!r})", stacklevel=3)
        if not self.sequences:
            raise ValueError(f"no example fits max_length={max_length}: {self.stats.summary()}")

    def __len__(self) -> int:
        return len(self.sequences)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        seq = self.sequences[i]
        inputs, targets = seq[:-1], seq[1:].clone()  # (n - 1,) each; clone: the mask must not edit seq
        if self.mask_prompt:
            # targets[j] is token j + 1; tokens 0 .. prompt_len - 1 are the prompt
            targets[: self.prompt_lengths[i] - 1] = IGNORE_INDEX
        return inputs, targets

    def n_scored_tokens(self) -> int:
        """How many targets the loss scores over one pass of the dataset."""
        if self.mask_prompt:
            return sum(len(s) - p for s, p in zip(self.sequences, self.prompt_lengths))
        return sum(len(s) - 1 for s in self.sequences)


class SharedSchemaBatches(Dataset):
    """Training batches in which several questions about one database share one reading of its schema.

    Why: a prompt is ~200 schema tokens and a query ~35, so with one prompt per question six tokens in seven are
    prompt that the loss never scores, yet each costs a forward and a backward pass. Here a batch holds groups of
    up to ``questions_per_schema`` questions about one schema, each group with its schema encoded once;
    ``SharedSchemaLM`` computes the schema's keys and values once per group, and every question attends to them
    and to itself only, at the positions its own prompt would give it. So each question's loss is exactly what
    it is with a prompt of its own (tested), for fewer tokens processed.

    Examples are grouped by their schema text, shuffled (``seed``), sorted by length inside spans of
    ``megabatch`` groups (so a group's questions pad little) and cut into groups; ``rename_rate`` renames the
    schema words (``rename_schema_words``) of that share of the groups, one renaming per group, so that its
    schema, questions and queries agree. Groups are then shuffled, sorted by length inside spans of ``megabatch``
    batches and cut into batches of ``batch_size // questions_per_schema`` groups (``batch_size`` questions, fewer
    where a database's last group is short), in shuffled order; a short last batch is dropped. ``views`` does all of it that many times, each with
    another shuffle and other renamings. A question whose schema, question and SQL exceed ``max_length`` tokens
    is dropped and counted in ``stats``. Item ``i`` is batch ``i``, a list of groups ``(schema_ids,
    [(question_ids, target_ids), ...])``: train with the engine's ``batch_size=1``, ``SharedSchemaCollator`` and
    ``wrap_model=SharedSchemaLM``. ``examples[i]`` lists the examples of batch ``i`` as renamed.
    """

    def __init__(self, examples: Sequence[Example], tokenizer: Any, *, max_length: int, batch_size: int,
                 questions_per_schema: int = 8, rename_rate: float = 0.0, rename_word_prob: float = 0.5,
                 views: int = 1, seed: int = 0, megabatch: int = 8):
        if min(questions_per_schema, views, megabatch) < 1 or batch_size < questions_per_schema:
            raise ValueError(f"questions_per_schema={questions_per_schema}, views={views} and megabatch={megabatch} "
                             f"must be at least 1, and batch_size={batch_size} at least questions_per_schema")
        if not 0.0 <= rename_rate <= 1.0:
            raise ValueError(f"rename_rate={rename_rate}: expected a fraction between 0 and 1")
        if max_length < 2:
            raise ValueError(f"max_length={max_length} leaves no room for a prompt and its SQL")
        encoder = fast_encoder(tokenizer)
        question_id = special_id(tokenizer, QUESTION)
        by_schema: dict[str, list[Example]] = {}
        for ex in examples:
            by_schema.setdefault(serialize_schema(ex.schema), []).append(ex)
        rng = random.Random(seed)
        self.stats = SFTStats(total=len(examples) * views)
        self.batches: list[list[tuple[list[int], list[tuple[list[int], list[int]]]]]] = []
        self.examples: list[list[Example]] = []
        per_batch = max(1, batch_size // questions_per_schema)
        for _ in range(views):
            groups = []  # (examples as renamed, schema ids, pairs)
            for key in sorted(by_schema):
                pool = list(by_schema[key])
                rng.shuffle(pool)
                span = questions_per_schema * megabatch
                for start in range(0, len(pool), span):
                    part = sorted(pool[start:start + span], key=lambda e: len(e.question) + len(e.sql))
                    for k in range(0, len(part), questions_per_schema):
                        rename_seed = rng.randrange(2**31) if rng.random() < rename_rate else None
                        group = self._encode_group(encoder, question_id, part[k:k + questions_per_schema],
                                                   rename_seed, rename_word_prob, max_length)
                        if group is not None:
                            groups.append(group)
            rng.shuffle(groups)
            batches = []
            for start in range(0, len(groups), per_batch * megabatch):
                part = sorted(groups[start:start + per_batch * megabatch], key=self._group_width)
                batches += [part[k:k + per_batch] for k in range(0, len(part), per_batch)]
            batches = [b for b in batches if len(b) == per_batch]
            rng.shuffle(batches)
            self.batches += [[(schema, pairs) for _, schema, pairs in b] for b in batches]
            self.examples += [[ex for exs, _, _ in b for ex in exs] for b in batches]
        self.stats.kept = sum(len(pairs) for b in self.batches for _, pairs in b)
        self.stats.lengths = [len(schema) + len(q) + len(t) - 1 for b in self.batches for schema, pairs in b
                              for q, t in pairs]
        self.stats.max_length = max(self.stats.lengths, default=0)
        if self.stats.dropped:
            warnings.warn(f"{type(self).__name__}: {self.stats.summary()} (max_length {max_length})", stacklevel=2)
        if not self.batches:
            raise ValueError(f"no batch of {batch_size} questions could be filled: {self.stats.summary()}")

    def _encode_group(self, encoder: Any, question_id: int, group: Sequence[Example], rename_seed: int | None,
                      word_prob: float, max_length: int) -> tuple[list[Example], list[int], list] | None:
        """The group as renamed, its schema's ids (the prompt up to ``<|question|>``) and each question's
        ``(question_ids, target_ids)``; None when no question fits ``max_length``."""
        kept, schema, pairs = [], None, []
        for original in group:
            ex = original if rename_seed is None else rename_schema_words(original, random.Random(rename_seed),
                                                                          word_prob)
            prompt, target = encode_prompt(encoder, ex), encode_target(encoder, ex.sql)
            cut = prompt.index(question_id)
            if schema is None:
                schema = prompt[:cut]
            elif prompt[:cut] != schema:  # the same schema text and renaming give the same ids
                raise ValueError(f"examples on {ex.db_id!r} with one schema text encode it differently")
            if len(prompt) + len(target) - 1 > max_length:
                self.stats.dropped += 1
                continue
            kept.append(ex)
            pairs.append((prompt[cut:], target))
        return (kept, schema, pairs) if pairs else None

    @staticmethod
    def _group_width(group: tuple[Any, list[int], list]) -> int:
        return max(len(q) + len(t) for q, t in group[2])

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, i: int) -> list[tuple[list[int], list[tuple[list[int], list[int]]]]]:
        return self.batches[i]

    def n_scored_tokens(self) -> int:
        """How many targets the loss scores over one pass (each SQL and its ``<|endoftext|>``)."""
        return sum(len(t) for b in self.batches for _, pairs in b for _, t in pairs)

    def token_counts(self) -> dict[str, int]:
        """Over one pass, unpadded: ``read``, the tokens the model processes (each group's schema once, then
        each question and SQL); ``one_prompt_each``, what a prompt per question would process."""
        read = sum(len(s) + sum(len(q) + len(t) - 1 for q, t in pairs) for b in self.batches for s, pairs in b)
        return {"read": read, "one_prompt_each": sum(self.stats.lengths)}


class SharedSchemaCollator:
    """Pads ``SharedSchemaBatches`` items into the keyword arguments of ``SharedSchemaLM`` and the targets.

    Schemas are padded on the left (``schema_valid`` is False on the pads), so that every schema ends in the last
    column and each question follows its schema directly; questions with their SQL are padded on the right, the
    targets with ``-100``. ``pair_schema[p]`` is the row of question ``p``'s schema.
    """

    def __init__(self, pad_id: int, ignore_index: int = IGNORE_INDEX):
        self.pad_id, self.ignore_index = pad_id, ignore_index

    def __call__(self, items: Sequence[Any]) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        # the engine hands over a list of batches (batch_size=1: one), each a list of groups
        groups = [g for item in items for g in item]
        if not groups:
            raise ValueError("cannot collate an empty batch")
        width = max(len(schema) for schema, _ in groups)
        schema_ids = torch.full((len(groups), width), self.pad_id, dtype=torch.long)  # (groups, schema)
        schema_valid = torch.zeros((len(groups), width), dtype=torch.bool)
        rows, owner = [], []
        for g, (schema, pairs) in enumerate(groups):
            schema_ids[g, width - len(schema):] = torch.tensor(schema, dtype=torch.long)
            schema_valid[g, width - len(schema):] = True
            for question, target in pairs:
                seq = question + target
                # target j is token j + 1: the question's tokens (but its last, <|sql|>) predict nothing scored
                rows.append((seq[:-1], [self.ignore_index] * (len(question) - 1) + target))
                owner.append(g)
        longest = max(len(x) for x, _ in rows)
        pair_ids = torch.full((len(rows), longest), self.pad_id, dtype=torch.long)  # (questions, tokens)
        targets = torch.full((len(rows), longest), self.ignore_index, dtype=torch.long)
        for p, (x, y) in enumerate(rows):
            pair_ids[p, : len(x)] = torch.tensor(x, dtype=torch.long)
            targets[p, : len(y)] = torch.tensor(y, dtype=torch.long)
        inputs = {"schema_ids": schema_ids, "schema_valid": schema_valid, "pair_ids": pair_ids,
                  "pair_schema": torch.tensor(owner, dtype=torch.long)}
        return inputs, targets


class SharedSchemaLM(nn.Module):
    """A chapter-3 ``GPTModel`` read the ``SharedSchemaBatches`` way: each schema once, then its questions.

    ``forward(schema_ids, schema_valid, pair_ids, pair_schema)`` runs the model on the left-padded schemas into a
    ``KVCache`` (their keys and values, and a copy head's states), copies each schema's rows of it to the rows of
    its questions, and runs the questions (padded on the right) after it: a question's token sees the schema and
    the earlier tokens of its own question and SQL, at positions counted from the schema's start, exactly as in a
    prompt of its own. Returns the log-probabilities or logits (questions, tokens, vocab). Gradients flow through
    the cache into the schema's pass, and in training mode the model's dropout applies to both passes. The wrapper
    holds no parameters of its own.
    """

    def __init__(self, model: nn.Module):
        super().__init__()
        if not supports_kv_cache(model):
            raise ValueError(f"SharedSchemaLM needs a model whose forward takes a KVCache (chapter 3's GPTModel), "
                             f"not {type(model).__name__}")
        self.model = model

    def forward(self, schema_ids: torch.Tensor, schema_valid: torch.Tensor, pair_ids: torch.Tensor,
                pair_schema: torch.Tensor) -> torch.Tensor:
        positions = (schema_valid.long().cumsum(dim=1) - 1).clamp(min=0)  # (groups, schema): 0, 1, ... from each start
        cache = KVCache()
        self.model(schema_ids, positions, attention_mask(schema_valid), cache, last_only=True)  # fills the cache
        cache = cache.select(pair_schema)  # one row per question
        valid = schema_valid.index_select(0, pair_schema)  # (questions, schema)
        n_questions, width = pair_ids.shape
        pair_positions = valid.sum(dim=1, keepdim=True) + torch.arange(width, device=pair_ids.device)  # after it
        causal = torch.ones(width, width, dtype=torch.bool, device=pair_ids.device).tril()
        mask = torch.cat([valid[:, None, :].expand(-1, width, -1), causal.expand(n_questions, -1, -1)], dim=2)
        return self.model(pair_ids, pair_positions, mask, cache)  # (questions, tokens, vocab)


class SFTCollator:
    """Pads a batch of ``(input_ids, target_ids)`` on the right: inputs with ``pad_id``, targets with ``-100``.

    Right padding leaves every real token at its own position and, under the causal mask, no real token
    attends to a pad; the pads' targets are ``-100``, so the loss never sees them. ``pad_to_multiple_of``
    rounds the padded length up (steadier shapes); a class rather than a closure so DataLoader workers
    can pickle it.
    """

    def __init__(self, pad_id: int, ignore_index: int = IGNORE_INDEX, pad_to_multiple_of: int = 1,
                 max_length: int | None = None):
        self.pad_id, self.ignore_index = pad_id, ignore_index
        self.pad_to_multiple_of = max(1, pad_to_multiple_of)
        self.max_length = max_length

    def __call__(self, batch: Sequence[Any]) -> tuple[torch.Tensor, torch.Tensor]:
        # LengthGroupedBatches hands over whole batches (lists of pairs): flatten them into one
        batch = [pair for item in batch for pair in (item if isinstance(item, list) else [item])]
        if not batch:
            raise ValueError("cannot collate an empty batch")
        longest = max(len(x) for x, _ in batch)
        if self.max_length is not None and longest > self.max_length:
            raise ValueError(f"a sequence of {longest} tokens is longer than max_length={self.max_length}")
        width = math.ceil(longest / self.pad_to_multiple_of) * self.pad_to_multiple_of
        if self.max_length is not None:
            width = min(width, self.max_length)
        inputs = torch.full((len(batch), width), self.pad_id, dtype=torch.long)  # (batch, tokens)
        targets = torch.full((len(batch), width), self.ignore_index, dtype=torch.long)  # (batch, tokens)
        for row, (x, y) in enumerate(batch):
            if len(x) != len(y):
                raise ValueError(f"batch item {row}: {len(x)} inputs but {len(y)} targets")
            inputs[row, : len(x)] = x
            targets[row, : len(y)] = y
        return inputs, targets


class LengthGroupedBatches(Dataset):
    """Batches of examples of similar length, as a dataset whose item ``i`` is batch ``i`` (a list of pairs).

    Random batches pad every sequence to the batch's longest; on the generated data that wastes about
    40% of the compute. As Hugging Face's ``group_by_length`` does, the examples are shuffled (``seed``),
    cut into mega-batches of ``megabatch`` batches, sorted by length inside each, and cut into batches:
    a batch holds similar lengths, and which examples meet is still random. Train with the engine's
    ``batch_size=1`` (one of these batches per micro-batch) and ``SFTCollator``, which accepts them.
    """

    def __init__(self, dataset: SFTDataset, batch_size: int, seed: int = 0, megabatch: int = 50):
        if batch_size < 1 or megabatch < 1:
            raise ValueError(f"batch_size={batch_size} and megabatch={megabatch} must be at least 1")
        self.dataset, self.batch_size = dataset, batch_size
        order = list(range(len(dataset)))
        random.Random(seed).shuffle(order)
        lengths = [len(seq) for seq in dataset.sequences]
        self.batches: list[list[int]] = []
        span = batch_size * megabatch
        for start in range(0, len(order), span):
            group = sorted(order[start:start + span], key=lambda i: lengths[i])
            self.batches += [group[k:k + batch_size] for k in range(0, len(group), batch_size)]
        # drop a short last batch, as the engine's loader does: every step then weighs the same
        self.batches = [b for b in self.batches if len(b) == batch_size]
        if not self.batches:
            raise ValueError(f"{len(dataset)} examples cannot fill one batch of {batch_size}")

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, i: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
        return [self.dataset[j] for j in self.batches[i]]

    def padding_fraction(self) -> float:
        """The share of the padded batches' positions that are padding."""
        lengths = [len(seq) - 1 for seq in self.dataset.sequences]
        real = sum(lengths[j] for b in self.batches for j in b)
        padded = sum(max(lengths[j] for j in b) * len(b) for b in self.batches)
        return 1.0 - real / padded


def sft_collator(tokenizer: Any, max_length: int | None = None) -> SFTCollator:
    """The collate function for ``tokenizer``: pads with its ``<|pad|>`` id."""
    return SFTCollator(special_id(tokenizer, PAD), max_length=max_length)


# ----------------------------------------------------------------------------------------------------
# Decoding: greedy, many prompts at once, with the model's key/value cache (t2sql_lib.generate)
# ----------------------------------------------------------------------------------------------------

def greedy_generate(model: nn.Module, prompts: Sequence[Sequence[int]], *, max_new_tokens: int, eos_id: int,
                    batch_size: int = 32, context_length: int | None = None) -> list[list[int]]:
    """The greedy continuation of each prompt (token ids), up to ``<|endoftext|>`` (left out) or
    ``max_new_tokens`` tokens or the end of the context.

    ``t2sql_lib.generate.generate`` does the work: prompts sorted by length, ``batch_size`` at a time, padded
    on the left, with a key/value cache; the result equals ``generate_greedy``'s up to floating-point ties.
    A model whose forward takes no KV cache is decoded one prompt at a time. Prompts longer than
    ``context_length - 1`` raise; cut them first.
    """
    return generate(model, prompts, max_new_tokens=max_new_tokens, eos_id=eos_id, batch_size=batch_size,
                    context_length=context_length)


@dataclass
class Predictions:
    """Predicted SQL per example, and how many prompts had to be cut to fit the context."""

    sql: list[str]
    n_prompts_truncated: int = 0


def predict_sql(model: nn.Module, tokenizer: Any, examples: Sequence[Example], *, max_new_tokens: int = 128,
                batch_size: int = 32, sample_values: Any = None) -> Predictions:
    """Greedy SQL for each example's prompt. A prompt too long to leave ``max_new_tokens`` of room is cut
    at the front (the start of the schema), and counted in ``n_prompts_truncated``."""
    encoder = fast_encoder(tokenizer)
    context_length = model.cfg.context_length
    room = max(context_length - max_new_tokens, 1)
    prompts, n_cut = [], 0
    for ex in examples:
        ids = encode_prompt(encoder, ex, sample_values)
        if len(ids) > room:
            ids, n_cut = ids[-room:], n_cut + 1
        prompts.append(ids)
    if n_cut:
        warnings.warn(f"predict_sql: {n_cut} of {len(examples)} prompts were longer than {room} tokens "
                      "and were cut at the front", stacklevel=2)
    outputs = greedy_generate(model, prompts, max_new_tokens=max_new_tokens, eos_id=special_id(encoder, ENDOFTEXT),
                              batch_size=batch_size, context_length=context_length)
    return Predictions([tokenizer.decode(ids).strip() for ids in outputs], n_cut)


def evaluate_model(model: nn.Module, tokenizer: Any, examples: Sequence[Example], *, max_new_tokens: int = 128,
                   batch_size: int = 32, info: dict[str, Any] | None = None, decoding: str = "greedy") -> EvalReport:
    """Generate SQL for ``examples`` and score it by executing it (``t2sql_lib.evaluate.evaluate``).

    ``decoding`` names one of chapter 6's decoders (``t2sql_lib.generate.DECODERS``): ``greedy`` (the default,
    ``predict_sql``), or e.g. ``constrained_execution_guided``, which writes only the schema's names and keeps the
    first of 4 beams that executes and returns rows (it reads the database, never the gold SQL).
    """
    if decoding == "greedy":
        preds = predict_sql(model, tokenizer, examples, max_new_tokens=max_new_tokens, batch_size=batch_size)
        info = {**(info or {}), "decoding": decoding, "prompts_truncated": preds.n_prompts_truncated}
        return evaluate(examples, preds.sql, info=info)
    if decoding not in DECODERS:
        raise ValueError(f"decoding={decoding!r}: expected one of {sorted(DECODERS)}")
    settings = dataclasses.replace(DECODERS[decoding], max_new_tokens=max_new_tokens)
    sqls = decode_sql(model, tokenizer, examples, settings, batch_size=batch_size)
    return evaluate(examples, sqls, info={**(info or {}), "decoding": decoding})


def execution_eval_fn(tokenizer: Any, examples: Sequence[Example], *, prefix: str = "val", max_new_tokens: int = 128,
                      batch_size: int = 32) -> Callable[[nn.Module], dict[str, float]]:
    """An ``eval_fn`` for ``t2sql_lib.train.train``: ``{prefix}_execution_accuracy``, ``{prefix}_exact_match``
    and ``{prefix}_valid_sql`` of greedy SQL on ``examples`` (keep them few: this runs at every evaluation)."""
    examples = list(examples)
    if not examples:
        raise ValueError("execution_eval_fn needs at least one example")

    def eval_fn(model: nn.Module) -> dict[str, float]:
        summary = evaluate_model(model, tokenizer, examples, max_new_tokens=max_new_tokens,
                                 batch_size=batch_size).summary()["all"]
        return {f"{prefix}_{k}": float(summary[k]) for k in ("execution_accuracy", "exact_match", "valid_sql")}

    return eval_fn
