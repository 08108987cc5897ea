"""Write and index the news articles that the news QA files ask about.

`tests/data/news_articles.json` names, for each QA file `tests/data/news_dev_*.jsonl`,
the URL of the one article it asks about: an article of the RealTime QA corpus in
../shared/, published before 2024, so that no quiz week of 2024 (no week of
`scripts/realtimeqa_split.py`) holds it. For each, this writes OUT/NAME/corpus/ (the
article, cleaned as the weeks' articles are) and, with --index, OUT/NAME/store, as
`storybot index` would; then it prints the `storybot eval` command for each.

    python scripts/news_articles.py --out /tmp/news --index

OUT must lie outside the repository: the articles are never copied into it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))  # the bench scripts import their helpers by name

from realtimeqa_answers import DATA, load_news, quiet_logs, to_article, write_corpus  # noqa: E402
from realtimeqa_split import index_week  # noqa: E402

MANIFEST = ROOT / "tests" / "data" / "news_articles.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--index", action="store_true", help="also index each article")
    args = parser.parse_args()
    out = args.out.resolve()
    if out == ROOT or ROOT in out.parents:
        raise SystemExit(f"--out {args.out} is inside the repository; choose a folder outside")
    quiet_logs()
    wanted = json.loads(MANIFEST.read_text(encoding="utf-8"))
    by_url = {item.url: item for item in load_news(args.data / "articles.jsonl.gz")}
    pairs = []
    for qa_name, url in wanted.items():
        if url not in by_url:
            raise SystemExit(f"{MANIFEST}: {qa_name}: no article at {url} in {args.data}")
        article = to_article(by_url[url])
        if article is None:
            raise SystemExit(f"{MANIFEST}: {qa_name}: the article at {url} has no text")
        folder = out / Path(qa_name).stem
        write_corpus(folder / "corpus", [article])
        if args.index:
            index_week(folder)
        qa_file = ROOT / "tests" / "data" / qa_name
        pairs.append(
            f"storybot eval {qa_file} --store {folder / 'store'} --corpus {folder / 'corpus'}"
        )
    print("\n".join(pairs))


if __name__ == "__main__":
    main()
