"""Deterministic generator of labelled emails for the spam example.

    python generate.py OUT_DIR [--rows 100000] [--seed 0] [--spam-share 0.3]

Writes OUT_DIR/emails.csv and OUT_DIR/emails.parquet (the same rows: id, sender, subject,
body, label). The same seed and rows give byte-identical files, and rows are drawn one
after the other, so `--rows 101000` is `--rows 100000` plus 1,000 appended rows. Parquet
is written with content-defined chunking so that a table re-written with a few rows
changed or appended deduplicates page by page in a snapkit store.

The data is made to be learnable but not trivially: spam leans on a spam vocabulary
(sometimes SHOUTED), carries more links and comes more often from bulk domains, but
some spam reads like ham and some ham (newsletters) like spam. Production's slightly
shifted mix is the same generator with another seed and a higher `--spam-share`.
"""

from __future__ import annotations

import argparse
import random
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

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
BATCH_ROWS = 65_536  # also the Parquet row group size, so readers can stream the file
SCHEMA = pa.schema(
    [
        ("id", pa.int64()),
        ("sender", pa.string()),
        ("subject", pa.string()),
        ("body", pa.string()),
        ("label", pa.int64()),
    ]
)


def spam_odds(rng: random.Random, is_spam: bool) -> float:
    """The chance that one word of this email comes from the spam vocabulary."""
    return rng.uniform(0.25, 0.85) if is_spam else rng.uniform(0.0, 0.3)


def words(rng: random.Random, is_spam: bool) -> list[str]:
    """The body's words: spam vocabulary in proportion, spam words SHOUTED at times."""
    odds = spam_odds(rng, is_spam)
    out = []
    for _ in range(rng.randint(8, 40)):
        if rng.random() < odds:
            word = rng.choice(SPAM_WORDS)
            out.append(word.upper() if is_spam and rng.random() < 0.2 else word)
        else:
            out.append(rng.choice(HAM_WORDS))
    return out


def with_links(rng: random.Random, body: list[str], count: int) -> list[str]:
    """`body` with `count` links inserted at random places."""
    body = list(body)
    for _ in range(count):
        link = f"http://{rng.choice(DOMAINS + BULK_DOMAINS)}/{rng.randrange(10**6):06d}"
        body.insert(rng.randint(0, len(body)), link)
    return body


def sender(rng: random.Random, is_spam: bool) -> str:
    bulk_odds = 0.4 if is_spam else 0.05
    domains = BULK_DOMAINS if rng.random() < bulk_odds else DOMAINS
    return f"user{rng.randint(1, 5000)}@{rng.choice(domains)}"


def email(rng: random.Random, i: int, spam_share: float) -> dict[str, object]:
    """One email; all its randomness is drawn from `rng`, in a fixed order."""
    is_spam = rng.random() < spam_share
    text = words(rng, is_spam)
    links = rng.randint(0, 6) if is_spam else rng.randint(0, 2)
    return {
        "id": i,
        "sender": sender(rng, is_spam),
        "subject": " ".join(text[:5]).capitalize(),
        "body": " ".join(with_links(rng, text, links)),
        "label": int(is_spam),
    }


def batches(rows: int, seed: int, spam_share: float) -> Iterator[list[dict[str, object]]]:
    """The emails in lists of at most BATCH_ROWS, drawn from one seeded generator."""
    rng = random.Random(seed)
    for start in range(0, rows, BATCH_ROWS):
        yield [email(rng, i, spam_share) for i in range(start, min(rows, start + BATCH_ROWS))]


def generate(out: Path, rows: int, seed: int = 0, spam_share: float = 0.3) -> None:
    """Write OUT/emails.csv and OUT/emails.parquet, batch by batch (bounded memory)."""
    out.mkdir(parents=True, exist_ok=True)
    with (
        pq.ParquetWriter(out / "emails.parquet", SCHEMA, use_content_defined_chunking=True) as pqw,
        pacsv.CSVWriter(out / "emails.csv", SCHEMA) as csvw,
    ):
        for records in batches(rows, seed, spam_share):
            batch = pa.RecordBatch.from_pylist(records, schema=SCHEMA)
            pqw.write_batch(batch)
            csvw.write_batch(batch)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--spam-share", type=float, default=0.3)
    args = parser.parse_args()
    if not 0.0 <= args.spam_share <= 1.0:
        parser.error("--spam-share must be between 0 and 1")
    generate(args.out, args.rows, args.seed, args.spam_share)


if __name__ == "__main__":
    main()
