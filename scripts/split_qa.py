"""Split one QA file (JSONL, every line with an "id") into train, dev and test files.

Deterministic and independent of line order: the dialogues of each kind (the id's
prefix before the first "-": s = single, c = casual single, o = out of scope,
f = follow-up) are sorted by the SHA-1 of their id; the first 40% go to train, the
next 20% to dev, the last 40% to test. A dialogue's split depends only on its id and
on the ids of its kind, so re-splitting the union of the three outputs gives them back.

    python scripts/split_qa.py all.jsonl [--out-dir tests/data]

writes story_train.jsonl, story_dev_split.jsonl and story_test.jsonl (one JSON
object a line, UTF-8, input order kept within each file).
"""

from __future__ import annotations

import argparse
import hashlib
import json
from collections import defaultdict
from pathlib import Path

OUTPUTS = {"train": "story_train.jsonl", "dev": "story_dev_split.jsonl", "test": "story_test.jsonl"}
SHARES = (0.4, 0.2)  # train, dev; test gets the rest


def kind(ident: str) -> str:
    return ident.split("-", 1)[0]


def split(records: list[dict]) -> dict[str, list[dict]]:
    """Each record's split, by kind and SHA-1 of its id; records keep their input order."""
    by_kind: dict[str, list[str]] = defaultdict(list)
    for record in records:
        by_kind[kind(record["id"])].append(record["id"])
    where: dict[str, str] = {}
    for ids in by_kind.values():
        ids.sort(key=lambda i: hashlib.sha1(i.encode("utf-8")).hexdigest())
        n_train = int(len(ids) * SHARES[0] + 0.5)
        n_dev = int(len(ids) * (SHARES[0] + SHARES[1]) + 0.5) - n_train
        for rank, ident in enumerate(ids):
            where[ident] = (
                "train" if rank < n_train else "dev" if rank < n_train + n_dev else "test"
            )
    parts: dict[str, list[dict]] = {name: [] for name in OUTPUTS}
    for record in records:
        parts[where[record["id"]]].append(record)
    return parts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("input", type=Path, help="one JSONL QA file, every line with an id")
    parser.add_argument("--out-dir", type=Path, default=Path("tests/data"))
    args = parser.parse_args()
    lines = args.input.read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines if line.strip()]
    ids = [record.get("id") for record in records]
    if not all(isinstance(i, str) and i for i in ids) or len(set(ids)) != len(ids):
        raise SystemExit(f"{args.input}: every line needs a unique, non-empty string id")
    for name, part in split(records).items():
        path = args.out_dir / OUTPUTS[name]
        text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in part)
        path.write_text(text, encoding="utf-8")
        print(f"{path}: {len(part)} dialogues")


if __name__ == "__main__":
    main()
