"""The surface grammar: the generator's questions said the many ways people say them.

A pattern writes a few careful phrasings ("List the name of hotels whose stars is greater than 3."). People
type "show me hotels over 3 stars", "can you tell me which hotels have more than 3 stars", "hotels w/ more than 3
stars pls". ``vary_question`` rewrites one question with a small grammar of independent choices, each drawn with
its own probability, and never touches the values the SQL holds (quoted strings and numbers stay as they are):

- **opener**: the imperative or interrogative start becomes another one, polite, casual or terse
  ("List the" -> "could you show me the" / "I need the" / "the");
- **words for comparisons and aggregates**: "greater than" -> "over", "highest" -> "biggest", "average" -> "mean";
- **everyday synonyms** of common words, schema words included ("price" -> "cost" while the SQL keeps
  ``price_per_tonne``): the model learns to find a column from a word that is not its name;
- **politeness**: "please", "thanks" before or after;
- **typing**: no capital, no final punctuation, one typo in a long word that is not in a value;
- **the column left unsaid** (for a model that reads value hints): "guests whose country is Ghana" -> "guests from
  Ghana", as people name a value and leave its column to be inferred.

``vary_examples`` applies it to a fraction of a list of examples (the training split: validation and test
questions keep the patterns' wording, so their scores compare across runs).
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import replace

from ..schema import Example

# Each opener (a regex on the question's start) and the ways people begin the same request
OPENERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (r"(List|Show|Find|Give|Display|Return|Get)( me)? (the|all the|all|every|each) ",
     ("list the ", "show me the ", "show the ", "give me the ", "can you list the ", "could you show me the ",
      "I need the ", "I want to see the ", "I'd like the ", "get me the ", "tell me the ", "pull up the ",
      "display the ", "the ", "")),
    (r"What (is|are) the ",
     ("what's the ", "what is the ", "tell me the ", "can you tell me the ", "do you know the ",
      "I want to know the ", "show me the ", "give me the ", "the ", "")),
    (r"How many ",
     ("how many ", "how many ", "number of ", "count of ", "can you tell me how many ", "do you know how many ",
      "tell me how many ", "I need to know how many ", "what's the number of ")),
    (r"Count the ",
     ("count the ", "how many ", "number of ", "give me the number of ", "can you count the ")),
    (r"Which ",
     ("which ", "what ", "which ", "can you tell me which ", "show me which ", "do you know which ")),
)
# Words for comparisons and aggregates, and their everyday equivalents (whole words, any case)
PHRASES: dict[str, tuple[str, ...]] = {
    "greater than": ("more than", "over", "above", "bigger than", "higher than", "exceeding"),
    "more than": ("over", "above", "greater than", "higher than", "bigger than"),
    "above": ("over", "more than", "higher than"),
    "less than": ("under", "below", "lower than", "smaller than", "fewer than"),
    "below": ("under", "less than", "lower than"),
    "under": ("below", "less than"),
    "at least": ("no less than", "a minimum of", "not under"),
    "at most": ("no more than", "a maximum of", "not over"),
    "highest": ("largest", "biggest", "greatest", "maximum", "top", "max"),
    "largest": ("biggest", "highest", "greatest", "maximum"),
    "lowest": ("smallest", "least", "minimum", "min", "bottom"),
    "smallest": ("lowest", "tiniest", "minimum", "least"),
    "average": ("mean", "avg", "typical"),
    "total": ("combined", "overall", "summed"),
    "distinct": ("different", "unique"),
    "different": ("distinct", "unique"),
    "every": ("each", "all the"),
    "ordered by": ("sorted by", "ranked by", "by"),
    "from the highest to the lowest": ("from high to low", "largest first", "in descending order"),
    "from the lowest to the highest": ("from low to high", "smallest first", "in ascending order"),
}
SYNONYMS: dict[str, tuple[str, ...]] = {
    "price": ("cost",), "cost": ("price",), "rating": ("score",), "score": ("rating",), "city": ("town",),
    "date": ("day",), "title": ("name",), "duration": ("length",), "capacity": ("size",), "budget": ("funding",),
    "salary": ("pay",), "weight": ("mass",), "height": ("tallness",), "area": ("size",), "amount": ("sum",),
    "country": ("nation",), "status": ("state",), "category": ("kind",), "type": ("kind", "sort"),
}
POLITE_BEFORE = ("please ", "hi, ", "hey, ", "quick question: ", "sorry, ")
POLITE_AFTER = (", please", " please", ", thanks", " thanks", " thx", " pls")


def _word_regex(table: dict[str, tuple[str, ...]]) -> re.Pattern:
    """One regex for the whole words or phrases of ``table``, longest first, any case."""
    keys = sorted(table, key=len, reverse=True)
    return re.compile(r"\b(" + "|".join(re.escape(k) for k in keys) + r")\b", re.IGNORECASE)


_PHRASES_RE, _SYNONYMS_RE = _word_regex(PHRASES), _word_regex(SYNONYMS)


def _swap(text: str, table: dict[str, tuple[str, ...]], regex: re.Pattern, protected: str, rng: random.Random,
          prob: float) -> str:
    """Replace whole words or phrases of ``table`` (found by ``regex``, each occurrence with ``prob``) unless
    ``protected`` has them."""

    def sub(m: re.Match) -> str:
        word = m.group(0)
        if word.lower() in protected or rng.random() >= prob:
            return word
        return rng.choice(table[word.lower()])

    return regex.sub(sub, text)


def typo(word: str, rng: random.Random) -> str:
    """One slip of the fingers: a letter dropped, doubled or swapped with the next."""
    i = rng.randrange(1, len(word) - 1)
    kind = rng.randrange(3)
    if kind == 0:
        return word[:i] + word[i + 1:]
    if kind == 1:
        return word[:i] + word[i] + word[i:]
    return word[:i] + word[i + 1] + word[i] + word[i + 2:]


def _add_typo(text: str, protected: str, rng: random.Random) -> str:
    words = [m for m in re.finditer(r"\b[a-z]{5,}\b", text) if m.group(0) not in protected]
    if not words:
        return text
    m = rng.choice(words)
    return text[: m.start()] + typo(m.group(0), rng) + text[m.end():]


def sql_values(sql: str) -> str:
    """The SQL's quoted strings and numbers, lower-cased and joined: the words a rewrite must keep."""
    found = re.findall(r"'((?:[^']|'')*)'|\b(\d+(?:\.\d+)?)\b", sql)
    return " ".join(text or number for text, number in found).lower()


# Words that name a column before its value in the patterns' phrasing ("whose country is", "with a genre of either")
_COLUMN_LEAD = r"\b(?:whose|with|having|has|have)\s+(?:a |an |the )?{words}\s+(?:is |equal to |equals |of |= )?(?:either )?"
_IMPLICIT_LEADS = ("from ", "in ", "with ", "of ", "for ", "at ")


def drop_column_words(question: str, sql: str, rng: random.Random) -> str:
    """``question`` with the words naming a text column right before its value replaced by a preposition: "guests
    whose country is Ghana" -> "guests from Ghana". Only for ``column = 'value'`` and ``column IN ('a', ...)``
    conditions (a negated one keeps its words: "not" lives there)."""
    for column, literal in re.findall(r"\b(\w+)\s*(?:=|\bIN\s*\()\s*'((?:[^']|'')*)'", sql, flags=re.IGNORECASE):
        if re.search(rf"\b{re.escape(column)}\s*(?:!=|<>|NOT\s+IN\b)", sql, flags=re.IGNORECASE):
            continue
        value = literal.replace("''", "'")
        words = r"\s+".join(re.escape(w) for w in column.lower().split("_") if w)
        lead = re.compile(_COLUMN_LEAD.format(words=words) + r"(?=" + re.escape(value) + r")", re.IGNORECASE)
        question = lead.sub(lambda m: rng.choice(_IMPLICIT_LEADS), question, count=1)
    return question


def vary_question(question: str, sql: str, rng: random.Random, value_case: float = 0.0,
                  implicit_columns: float = 0.0) -> str:
    """``question`` rewritten by the surface grammar; the SQL's values (quoted strings, numbers) are kept, except
    that with probability ``value_case`` the quoted values are written in lower case, as people type them, and with
    probability ``implicit_columns`` the words naming a value's column are dropped (``drop_column_words``); both
    only for a model that reads value hints (``t2sql_lib.value_hints``), which give it the stored spelling and the
    column back."""
    protected = sql_values(sql)
    text = question
    if implicit_columns and rng.random() < implicit_columns:
        text = drop_column_words(text, sql, rng)
    if value_case and rng.random() < value_case:
        for literal in re.findall(r"'((?:[^']|'')*)'", sql):
            value = literal.replace("''", "'").strip("%")
            if value:
                text = text.replace(value, value.lower())
    for regex, choices in OPENERS:
        m = re.match(regex, text)
        if m and rng.random() < 0.7:
            text = rng.choice(choices) + text[m.end():]
            break
    text = _swap(text, PHRASES, _PHRASES_RE, protected, rng, prob=0.5)
    text = _swap(text, SYNONYMS, _SYNONYMS_RE, protected, rng, prob=0.3)
    if rng.random() < 0.15:
        text = rng.choice(POLITE_BEFORE) + _lower_first(text, protected)
    elif rng.random() < 0.15:
        text = text.rstrip("?.") + rng.choice(POLITE_AFTER) + ("?" if text.endswith("?") else "")
    if rng.random() < 0.4:
        text = text.rstrip("?.")
    if rng.random() < 0.15:
        text = _add_typo(text, protected, rng)
    if rng.random() < 0.5:  # people rarely capitalise
        text = _lower_first(text, protected)
    elif text:
        text = text[0].upper() + text[1:]
    return text.strip() or question


def _lower_first(text: str, protected: str) -> str:
    """``text`` with its first letter lower-cased, unless its first word is one of the SQL's values."""
    words = text.split()
    if not words or words[0].lower() in protected:
        return text
    return text[0].lower() + text[1:]


def vary_examples(examples: Sequence[Example], rate: float, seed: int = 0, value_case: float = 0.0,
                  implicit_columns: float = 0.0) -> list[Example]:
    """``examples`` with a fraction ``rate`` of questions (chosen with ``seed``) rewritten by ``vary_question``
    (``value_case``: its chance of lower-cased values; ``implicit_columns``: of a value's column left unsaid); a
    rewritten example's ``meta`` keeps the pattern's wording under ``template_question``."""
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"rate={rate}: expected a fraction between 0 and 1")
    rng = random.Random(f"t2sql-surface:{seed}")
    out = []
    for ex in examples:
        if rng.random() < rate:
            varied = vary_question(ex.question, ex.sql, rng, value_case, implicit_columns)
            if varied != ex.question:
                ex = replace(ex, question=varied, meta={**ex.meta, "template_question": ex.question})
        out.append(ex)
    return out
