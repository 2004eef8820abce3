"""Deterministic generator of labelled emails for the spam example.

    python pipelines/spam/generate.py OUT_DIR [--rows 100000] [--seed 0] [--spam-share 0.3]

Writes OUT_DIR/emails.csv and OUT_DIR/emails.parquet (the same rows). Parquet is written
with content-defined chunking so that a table re-written with a few rows changed or appended
deduplicates page by page in a snapkit store.
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

HAM_WORDS = (
    "meeting report schedule lunch project review budget invoice agenda team notes "
    "deadline draft attached thanks regards tomorrow call update plan quarter"
).split()
SPAM_WORDS = (
    "free winner prize cash offer click now urgent bonus credit limited deal viagra "
    "lottery claim million guaranteed cheap discount risk-free"
).split()
DOMAINS = ("example.com", "mail.test", "corp.test", "inbox.test")


def email(rng: random.Random, i: int, spam_share: float) -> dict[str, object]:
    is_spam = rng.random() < spam_share
    vocab = SPAM_WORDS if is_spam else HAM_WORDS
    words = [
        rng.choice(vocab if rng.random() < 0.7 else HAM_WORDS + SPAM_WORDS)
        for _ in range(rng.randint(8, 40))
    ]
    return {
        "id": i,
        "sender": f"user{rng.randint(1, 5000)}@{rng.choice(DOMAINS)}",
        "subject": " ".join(words[:5]).capitalize(),
        "body": " ".join(words),
        "n_links": rng.randint(2, 9) if is_spam else rng.randint(0, 2),
        "label": int(is_spam),
    }


def generate(out: Path, rows: int, seed: int = 0, spam_share: float = 0.3) -> None:
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    rng = random.Random(seed)
    records = [email(rng, i, spam_share) for i in range(rows)]
    table = pa.Table.from_pylist(records)
    out.mkdir(parents=True, exist_ok=True)
    pacsv.write_csv(table, out / "emails.csv")
    pq.write_table(table, out / "emails.parquet", use_content_defined_chunking=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--spam-share", type=float, default=0.3)
    args = parser.parse_args()
    generate(args.out, args.rows, args.seed, args.spam_share)


if __name__ == "__main__":
    main()
