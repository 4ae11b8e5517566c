"""Chapter 1's byte-level BPE (t2sql_lib.tokenizer): training, round trips, special tokens, files, tiktoken bridge."""

from __future__ import annotations

import json
import random
import string
from collections import Counter

import pytest
import regex

from t2sql_lib.prompts import build_example_text, serialize_schema
from t2sql_lib.special_tokens import ENDOFTEXT, PAD, QUESTION, SCHEMA, SPECIAL_TOKENS, SQL
from t2sql_lib.synth import load_generated
from t2sql_lib.tokenizer import (
    PRETOKENIZE_PATTERN,
    BPETokenizer,
    count_pieces,
    encode_piece,
    gpt2_with_special_tokens,
    load_tokenizer,
    merge_pair,
    pretokenize,
    split_special,
    train_merges,
)

ROUND_TRIP_TEXTS = [
    "SELECT T1.name, count(*) FROM singer AS T1 JOIN concert AS T2 ON T1.singer_id = T2.singer_id GROUP BY T1.name",
    "SELECT * FROM t WHERE a <= 1 AND b >= 2.5 AND c != 'x' AND d <> \"y\" OR e LIKE 'Mat%' LIMIT 10;",
    "SELECT name FROM people WHERE name = 'O''Brien'",
    "naïve café, Zürich, São Paulo, Kraków, 東京, Москва",
    "emoji 🙂🚀 and a family 👨‍👩‍👧 and flags 🇫🇷",
    "  leading spaces, trailing spaces   ",
    "tabs\tand\nnewlines\r\n\n\n  and   runs    of spaces",
    "",
    " ",
    "\n",
    "12345678901234567890 3.14159 -42 1e10 0x1F",
    "combining: e\u0301 a\u0308 and zero width\u200bjoiner, a stray \u0301 mark, 1\u0301",
    "<|sql|> typed by a user <|endoftext|> <|not_special|>",
]


@pytest.fixture(scope="module")
def splits():
    return load_generated(n_examples=2000, seed=0)


@pytest.fixture(scope="module")
def corpus(splits):
    train = splits["train"]
    return ([e.question for e in train] + [e.sql for e in train]
            + sorted({serialize_schema(e.schema) for e in train}))


@pytest.fixture(scope="module")
def tokenizer(corpus):
    return BPETokenizer.train(corpus, vocab_size=1024)


def test_pretokenize_keeps_sql_pieces_sensible():
    pieces = pretokenize("SELECT T1.singer_id FROM t WHERE a<=1 AND b >= 2020 AND c!='Mat%' AND d <> 12345")
    assert " T1" in pieces and "singer_id" in pieces
    for op in ("<=", " >=", "!=", " <>"):
        assert op in pieces, op
    assert "'" in pieces and "Mat" in pieces  # the quote stands alone, the value is its own piece
    assert " 2020" in pieces  # a year stays whole
    assert " 1234" in pieces and "5" in pieces  # longer numbers are cut into groups of four
    assert "".join(pieces) == "SELECT T1.singer_id FROM t WHERE a<=1 AND b >= 2020 AND c!='Mat%' AND d <> 12345"


@pytest.mark.parametrize("text", ROUND_TRIP_TEXTS)
def test_pretokenize_covers_every_character(text):
    assert "".join(pretokenize(text)) == text


def _random_texts(n: int, seed: int = 0) -> list[str]:
    """Random strings over ASCII, accents, combining marks, other scripts, digits, emoji and odd whitespace."""
    rng = random.Random(seed)
    alphabet = (list(string.printable) + list("éèçñüß_'\"`<>=!%") + ["\u0301", "\u0308", "\u200b", "\u00a0",
                "\u3000", "\u2028", "\u0660", "\u00bd", "東", "京", "ж", "ع", "🙂", "👨\u200d👩", "🇫🇷", "\ufeff"])
    return ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40))) for _ in range(n)]


def test_pretokenize_covers_random_text():
    for text in _random_texts(2000):
        assert "".join(pretokenize(text)) == text, repr(text)


def test_split_special_keeps_markers_whole():
    parts = split_special(f"{SCHEMA} t(a int) {QUESTION} how many?{SQL} SELECT{ENDOFTEXT}", SPECIAL_TOKENS)
    assert parts == [SCHEMA, " t(a int) ", QUESTION, " how many?", SQL, " SELECT", ENDOFTEXT]
    assert split_special("no markers", []) == ["no markers"]


def test_merge_pair():
    assert merge_pair([1, 2, 1, 2, 3], (1, 2), 9) == [9, 9, 3]
    assert merge_pair([1, 1, 1], (1, 1), 9) == [9, 1]  # left to right, not overlapping
    assert merge_pair([], (1, 2), 9) == []


def _train_merges_by_recounting(piece_counts, n_merges):
    """The textbook algorithm: recount every pair after each merge."""
    words = {piece: list(piece) for piece in piece_counts}
    merges = []
    for new_id in range(256, 256 + n_merges):
        counts = Counter()
        for piece, word in words.items():
            for pair in zip(word, word[1:]):
                counts[pair] += piece_counts[piece]
        if not counts or max(counts.values()) < 2:
            break
        pair = min(counts, key=lambda p: (-counts[p], p))
        merges.append(pair)
        words = {piece: merge_pair(word, pair, new_id) for piece, word in words.items()}
    return merges


def test_incremental_training_equals_recounting(corpus):
    counts = count_pieces(corpus[::7])
    assert train_merges(counts, 200) == _train_merges_by_recounting(counts, 200)


def test_training_is_deterministic_and_fills_the_vocabulary(tokenizer, corpus):
    assert tokenizer.n_vocab == 1024
    assert len(tokenizer.merges) == 1024 - 256 - len(SPECIAL_TOKENS)
    assert BPETokenizer.train(corpus, vocab_size=1024).merges == tokenizer.merges


def test_training_stops_when_pairs_run_out():
    tok = BPETokenizer.train(["abab abab"], vocab_size=1000)
    assert 0 < len(tok.merges) < 10
    assert list(tok.special_tokens.values()) == list(range(256 + len(tok.merges), tok.n_vocab))


def test_vocab_size_too_small():
    with pytest.raises(ValueError, match="below 256 bytes"):
        BPETokenizer.train(["x"], vocab_size=100)


def test_special_token_strings_do_not_train_merges():
    tok = BPETokenizer.train([f"{SQL} SELECT {ENDOFTEXT}"] * 50, vocab_size=300)
    assert not any(b"<|" in tok.token_bytes[i] or b"|>" in tok.token_bytes[i] for i in range(256, 256 + len(tok.merges)))


def test_learned_tokens_never_cross_pieces(tokenizer):
    for i in range(256, 256 + len(tokenizer.merges)):
        text = tokenizer.token_bytes[i].decode("utf-8", errors="replace")
        if "\ufffd" not in text:  # a token may hold part of a multi-byte character
            assert len(pretokenize(text)) == 1, repr(text)


def test_round_trip_random_text(tokenizer):
    for text in _random_texts(1000, seed=2):
        assert tokenizer.decode(tokenizer.encode(text)) == text, repr(text)


@pytest.mark.parametrize("text", ROUND_TRIP_TEXTS)
def test_round_trip(tokenizer, text):
    for allowed in ("all", ()):
        ids = tokenizer.encode(text, allowed_special=allowed)
        assert tokenizer.decode(ids) == text
        assert all(0 <= i < tokenizer.n_vocab for i in ids)


def test_encode_compresses_sql(tokenizer):
    sql = "SELECT name FROM singer WHERE age >= 30 ORDER BY name"
    assert len(tokenizer.encode(sql)) < len(sql.encode("utf-8")) / 2


def test_encode_piece_applies_earliest_merge_first():
    ranks = {(97, 98): 256, (98, 99): 257, (256, 99): 258}  # ab, bc, (ab)c
    assert encode_piece(list(b"abc"), ranks) == [258]
    assert encode_piece(list(b"bcd"), ranks) == [257, 100]
    assert encode_piece(list(b"x"), ranks) == [120]


def test_special_tokens_are_single_ids(tokenizer):
    assert list(tokenizer.special_tokens) == list(SPECIAL_TOKENS)
    for token in SPECIAL_TOKENS:
        assert tokenizer.encode(token) == [tokenizer.special_tokens[token]]
    assert tokenizer.eot_id == tokenizer.special_tokens[ENDOFTEXT]
    assert tokenizer.pad_id == tokenizer.special_tokens[PAD]
    assert tokenizer.n_vocab - 1 == max(tokenizer.special_tokens.values())


def test_special_tokens_only_when_allowed(tokenizer, splits):
    special_ids = set(tokenizer.special_tokens.values())
    text = build_example_text(splits["validation"][0])
    plain = tokenizer.encode(text, allowed_special=())
    assert not special_ids & set(plain)
    assert tokenizer.decode(plain) == text
    only_sql = tokenizer.encode(text, allowed_special={SQL})
    assert special_ids & set(only_sql) == {tokenizer.special_tokens[SQL]}
    full = tokenizer.encode(text)
    assert [i for i in full if i in special_ids] == [tokenizer.special_tokens[t] for t in (SCHEMA, QUESTION, SQL, ENDOFTEXT)]
    with pytest.raises(ValueError, match="lacks"):
        tokenizer.encode("x", allowed_special={"<|nope|>"})


def test_ordinary_text_never_yields_special_ids(tokenizer, splits):
    special_ids = set(tokenizer.special_tokens.values())
    for e in splits["test"][:200]:
        assert not special_ids & set(tokenizer.encode(e.question + " " + e.sql))


def test_decode_rejects_unknown_ids(tokenizer):
    with pytest.raises(ValueError, match="not in this tokenizer's vocabulary"):
        tokenizer.decode([tokenizer.n_vocab])
    with pytest.raises(ValueError):
        tokenizer.decode([-1])


def test_decode_of_a_cut_character_is_replaced(tokenizer):
    ids = tokenizer.encode("🙂")
    assert tokenizer.decode_bytes(ids) == "🙂".encode()
    assert "\ufffd" in tokenizer.decode(list("🙂".encode())[:2])


def test_save_load_identity(tokenizer, tmp_path, splits):
    path = tokenizer.save(tmp_path / "sub" / "tok.json")
    loaded = BPETokenizer.load(path)
    assert loaded.to_dict() == tokenizer.to_dict()
    assert loaded.token_bytes == tokenizer.token_bytes
    for text in ROUND_TRIP_TEXTS + [build_example_text(e) for e in splits["validation"][:50]]:
        assert loaded.encode(text) == tokenizer.encode(text)
    assert load_tokenizer(path).to_dict() == tokenizer.to_dict()
    assert json.loads(path.read_text(encoding="utf-8"))["format"] == "t2sql-bpe"


def test_malformed_json_names_the_file(tmp_path):
    path = tmp_path / "broken_tokenizer.json"
    path.write_text('{"format": "t2sql-bpe", "merges": [[1, 2]', encoding="utf-8")
    with pytest.raises(ValueError, match="broken_tokenizer.json: not valid JSON"):
        BPETokenizer.load(path)


@pytest.mark.parametrize("data, message", [
    ({"format": "something-else"}, "not a t2sql-bpe tokenizer"),
    ([1, 2, 3], "not a t2sql-bpe tokenizer"),
    ({"format": "t2sql-bpe", "version": 99}, "version 99"),
    ({"format": "t2sql-bpe", "version": 1, "pattern": "x"}, "malformed"),
    ({"format": "t2sql-bpe", "version": 1, "pattern": "x", "merges": [[1, 2, 3]], "special_tokens": {}}, "malformed"),
    ({"format": "t2sql-bpe", "version": 1, "pattern": "x", "merges": [[1, 300]], "special_tokens": {}},
     "does not exist yet"),
    ({"format": "t2sql-bpe", "version": 1, "pattern": "x", "merges": [[97, 98], [256, 99], [98, 99], [97, 258]],
      "special_tokens": {}}, "already is"),
    ({"format": "t2sql-bpe", "version": 1, "pattern": "x", "merges": [], "special_tokens": {"<|a|>": 5}},
     "ordinary token"),
    ({"format": "t2sql-bpe", "version": 1, "pattern": "x", "merges": [], "special_tokens": {"<|a|>": 300, "<|b|>": 300}},
     "share an id"),
    ({"format": "t2sql-bpe", "version": 1, "pattern": "(", "merges": [], "special_tokens": {}}, "bad_file.json"),
])
def test_bad_tokenizer_data_names_the_file(tmp_path, data, message):
    path = tmp_path / "bad_file.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ValueError, match=message) as info:
        BPETokenizer.load(path)
    assert "bad_file.json" in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        BPETokenizer.load(tmp_path / "nope.json")


def _bridge_corpus(splits, spider_texts):
    texts = [f(e) for exs in splits.values() for e in exs
             for f in (build_example_text, lambda e: e.question, lambda e: e.sql)]
    texts += ROUND_TRIP_TEXTS + spider_texts + _random_texts(3000, seed=1)
    # a few hundred KB of varied text: every printable character of several scripts, and the training texts shuffled
    texts.append("".join(chr(c) for c in range(32, 0x2FF) if chr(c).isprintable()))
    texts.append(" ".join(sorted({w for t in texts[:3000] for w in t.split()}, key=lambda w: (len(w), w))))
    return texts


def test_tiktoken_bridge_gives_identical_ids(tokenizer, splits):
    from t2sql_lib.paths import spider_dir

    spider_texts = []
    if spider_dir() is not None:
        from t2sql_lib.spider import load_spider

        spider_texts = [build_example_text(e) for e in load_spider(spider_dir(), "dev", hardness=False)]
    texts = _bridge_corpus(splits, spider_texts)
    assert sum(len(t) for t in texts) > 500_000
    fast = tokenizer.to_tiktoken()
    assert fast.n_vocab == tokenizer.n_vocab
    assert fast.encode_batch(texts, allowed_special="all") == [tokenizer.encode(t) for t in texts]
    assert fast.encode_ordinary_batch(texts) == [tokenizer.encode(t, allowed_special=()) for t in texts]
    assert fast.decode(tokenizer.encode(texts[0])) == texts[0]


def test_tiktoken_bridge_on_a_tokenizer_trained_with_spider(corpus, spider):
    from t2sql_lib.spider import load_spider

    train = load_spider(spider, "train", hardness=False)[:1500]
    dev = load_spider(spider, "dev", hardness=False)
    tok = BPETokenizer.train(corpus + [e.question for e in train] + [e.sql for e in train], vocab_size=2048)
    texts = [build_example_text(e) for e in dev]
    assert tok.to_tiktoken().encode_batch(texts, allowed_special="all") == [tok.encode(t) for t in texts]


def test_pattern_is_accepted_by_tiktoken_and_splits_alike():
    import tiktoken

    enc = tiktoken.Encoding(name="bytes-only", pat_str=PRETOKENIZE_PATTERN,
                            mergeable_ranks={bytes([b]): b for b in range(256)}, special_tokens={})
    text = "a<=b  >= 'x'\n\n  T1.singer_id 12345 naïve 🙂"
    assert len(enc.encode_ordinary(text)) == len(text.encode("utf-8"))
    assert regex.findall(PRETOKENIZE_PATTERN, text) == pretokenize(text)


def test_gpt2_reference(gpt2_encoding):
    assert gpt2_encoding.encode("Hello, I am") == [15496, 11, 314, 716]


def test_load_tokenizer_gpt2_has_course_special_tokens(gpt2_encoding):
    enc = load_tokenizer("gpt2")
    assert enc.encode(ENDOFTEXT, allowed_special="all") == [50256]
    ids = [enc.encode(t, allowed_special="all") for t in SPECIAL_TOKENS]
    assert all(len(i) == 1 for i in ids) and len({i[0] for i in ids}) == len(SPECIAL_TOKENS)
    assert enc.n_vocab == 50257 + len(SPECIAL_TOKENS) - 1
    assert enc.encode("Hello, I am") == [15496, 11, 314, 716]
    assert gpt2_with_special_tokens().encode(SQL, allowed_special="all") == enc.encode(SQL, allowed_special="all")
