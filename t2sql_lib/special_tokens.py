"""The special tokens of the course's prompt format, shared by the tokenizer and the prompt builder.

A training example is rendered as::

    <|schema|> ...serialised schema... <|question|> ...question... <|sql|> ...SQL... <|endoftext|>

Chapter 1 adds these strings to the BPE vocabulary as single tokens; ``t2sql_lib.prompts`` uses
them to build prompts and targets.
"""

ENDOFTEXT = "<|endoftext|>"
SCHEMA = "<|schema|>"
QUESTION = "<|question|>"
SQL = "<|sql|>"
PAD = "<|pad|>"

SPECIAL_TOKENS = (ENDOFTEXT, SCHEMA, QUESTION, SQL, PAD)
