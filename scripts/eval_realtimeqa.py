"""`storybot eval --baseline` over the RealTime QA weeks of one split, figures pooled.

    python scripts/eval_realtimeqa.py --weeks /tmp/rtqa --split dev [--json]

WEEKS is the folder `scripts/realtimeqa_split.py --index` wrote: WEEK/corpus,
WEEK/questions.jsonl, WEEK/store and split.json. Each week is asked in its own store
by `storybot eval`'s runners (storybot and the plain LlamaIndex baseline); the results
of all weeks of the split are summarised together.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TQDM_DISABLE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))  # the bench scripts import their helpers by name

from bot.evaluation import load_dialogues, render_table, summarise  # noqa: E402
from bot.evaluation.calibration import render_calibration  # noqa: E402
from bot.evaluation.runner import build_baseline, run_baseline, run_storybot  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weeks", type=Path, required=True)
    parser.add_argument("--split", choices=("train", "dev", "test", "check"), required=True)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    from _common import quiet_logs

    from bot.answering.engine import AnswerEngine
    from bot.settings import BotSettings
    from index.articles import load_corpus
    from index.retrieval import StoryIndex

    quiet_logs()
    weeks = json.loads((args.weeks / "split.json").read_text())[args.split]
    ours, base, model, k = [], [], None, 5
    with tempfile.TemporaryDirectory(prefix="storybot-rtqa-eval-") as scratch:
        for week in weeks:
            folder = args.weeks / week
            dialogues = load_dialogues(folder / "questions.jsonl")
            settings = BotSettings(
                store_dir=folder / "store",
                corpus_dir=folder / "corpus",
                memory_path=Path(scratch) / f"{week}.sqlite3",
                openai_api_key=None,
            )
            index = StoryIndex(settings, embed_model=model)
            model = index.embed_model
            engine = AnswerEngine.from_settings(settings, story_index=index)
            k = settings.top_k
            engine.warm_up()
            ours += run_storybot(engine, dialogues, k, tag=f"rtqa-{week}")
            retriever, _ = build_baseline(load_corpus(folder / "corpus"), model, k)
            base += run_baseline(retriever, dialogues)
            engine.memory.close()
    reports = [summarise(ours, k), summarise(base, k, "baseline", cites=False)]
    if args.json:
        print(
            json.dumps(
                {
                    "split": args.split,
                    "weeks": weeks,
                    "storybot": reports[0].to_json(),
                    "baseline": reports[1].to_json(),
                },
                indent=1,
            )
        )
        return
    print(f"RealTime QA {args.split} weeks {', '.join(weeks)}: {len(ours)} questions")
    print(render_table(reports))
    print(render_calibration(ours))
    answered = [len(r.answer) for r in ours if not r.abstained]
    print(f"answered {len(answered)}; median answer {reports[0].median_answer_chars} chars")


if __name__ == "__main__":
    main()
