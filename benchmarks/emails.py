"""A fast, vectorised variant of `pipelines/spam/generate.py`'s email rows (numpy + pyarrow).

Rows come in blocks of BLOCK_ROWS; each block draws from its own generator seeded with
`(seed, block number)`, so the first N blocks of a longer table are the same rows as a
table of N blocks: appending rows means generating more blocks.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

BLOCK_ROWS = 4_096
HAM_WORDS = (  # noqa: SIM905 (a vocabulary reads best as one string)
    "meeting report schedule lunch project review budget invoice agenda team notes "
    "deadline draft attached thanks regards tomorrow call update plan quarter"
).split()
SPAM_WORDS = (  # noqa: SIM905
    "free winner prize cash offer click now urgent bonus credit limited deal viagra "
    "lottery claim million guaranteed cheap discount risk-free"
).split()
DOMAINS = ("example.com", "mail.test", "corp.test", "inbox.test")
BULK_DOMAINS = ("deals.test", "promo.test")
SCHEMA = pa.schema(
    [
        ("id", pa.int64()),
        ("sender", pa.string()),
        ("subject", pa.string()),
        ("body", pa.string()),
        ("label", pa.int64()),
    ]
)
# Vocabulary: ham words, spam words, then the same spam words SHOUTED.
VOCAB = pa.array(HAM_WORDS + SPAM_WORDS + [w.upper() for w in SPAM_WORDS])
ALL_DOMAINS = pa.array(DOMAINS + BULK_DOMAINS)


def _joined(lists: pa.ListArray) -> pa.Array:
    return pc.binary_join(lists, " ")


def _lists(counts: np.ndarray, values: pa.Array) -> pa.ListArray:
    offsets = np.zeros(len(counts) + 1, dtype=np.int32)
    np.cumsum(counts, out=offsets[1:])
    return pa.ListArray.from_arrays(pa.array(offsets), values)


def _words(rng: np.random.Generator, is_spam: np.ndarray) -> pa.ListArray:
    """Each row's body words: spam vocabulary in proportion, spam words SHOUTED at times."""
    rows = len(is_spam)
    odds = np.where(is_spam, rng.uniform(0.25, 0.85, rows), rng.uniform(0.0, 0.3, rows))
    counts = rng.integers(8, 41, rows)
    row = np.repeat(np.arange(rows), counts)
    total = len(row)
    spammy = rng.random(total) < odds[row]
    shout = spammy & is_spam[row] & (rng.random(total) < 0.2)
    ham = rng.integers(0, len(HAM_WORDS), total)
    spam = len(HAM_WORDS) + rng.integers(0, len(SPAM_WORDS), total) + shout * len(SPAM_WORDS)
    return _lists(counts, VOCAB.take(pa.array(np.where(spammy, spam, ham))))


def _domains(rng: np.random.Generator, bulk_odds: np.ndarray) -> pa.Array:
    n = len(bulk_odds)
    bulk = rng.random(n) < bulk_odds
    index = np.where(
        bulk, len(DOMAINS) + rng.integers(0, len(BULK_DOMAINS), n), rng.integers(0, len(DOMAINS), n)
    )
    return ALL_DOMAINS.take(pa.array(index))


def _numbers(rng: np.random.Generator, n: int, high: int, width: int) -> pa.Array:
    digits = pc.cast(pa.array(rng.integers(0, high, n)), pa.string())
    return pc.utf8_lpad(digits, width=width, padding="0")


def _links(rng: np.random.Generator, is_spam: np.ndarray) -> pa.Array:
    """Each row's links (`http://domain/NNNNNN`), joined by spaces; empty for none."""
    counts = np.where(is_spam, rng.integers(0, 7, len(is_spam)), rng.integers(0, 3, len(is_spam)))
    total = int(counts.sum())
    domains = ALL_DOMAINS.take(pa.array(rng.integers(0, len(ALL_DOMAINS), total)))
    links = pc.binary_join_element_wise("http://", domains, "/", _numbers(rng, total, 10**6, 6), "")
    return _joined(_lists(counts, links))


def email_block(seed: int, block: int) -> pa.Table:
    """BLOCK_ROWS emails, ids from `block * BLOCK_ROWS`, all drawn from `(seed, block)`."""
    rng = np.random.default_rng([seed, block])
    is_spam = rng.random(BLOCK_ROWS) < 0.3
    words = _words(rng, is_spam)
    body = pc.utf8_rtrim(
        pc.binary_join_element_wise(_joined(words), _links(rng, is_spam), " "), characters=" "
    )
    user = _numbers(rng, BLOCK_ROWS, 5000, 1)
    sender = pc.binary_join_element_wise(
        "user", user, "@", _domains(rng, np.where(is_spam, 0.4, 0.05)), ""
    )
    start = block * BLOCK_ROWS
    columns = [
        pa.array(np.arange(start, start + BLOCK_ROWS)),
        sender,
        pc.utf8_capitalize(_joined(pc.list_slice(words, 0, 5))),
        body,
        pa.array(is_spam.astype(np.int64)),
    ]
    return pa.Table.from_arrays(columns, schema=SCHEMA)


def email_tables(seed: int, blocks: int, per_table: int) -> Iterator[pa.Table]:
    """`blocks` blocks of emails, `per_table` blocks concatenated into each table yielded."""
    for first in range(0, blocks, per_table):
        last = min(blocks, first + per_table)
        yield pa.concat_tables(email_block(seed, b) for b in range(first, last))
