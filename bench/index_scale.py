"""`storybot index` and a bot at the size of years of news, beside the pre-streaming indexer.

    .venv/bin/python bench/index_scale.py [--sizes 100,1000,8484] [--baseline-rev REV]
        [--baseline-max 1000] [--bot-baseline-rev REV] [--questions 40] [--server-size 1000]
        [--chroma-timeout S] [--steps index,update,bot,server] [--rounds 1] [--work DIR]

For each size N, the first N articles of ../shared/corpora/realtimeqa-2024 are
written as .txt files and indexed by the `storybot index` command in a child
process: wall time, chunks per second and the child's peak RSS. The baseline is
the same command from REV (default: the commit before batched indexing),
unpacked with `git archive`, for the sizes up to --baseline-max (it holds the
whole corpus in memory, so it cannot do all 8,484 articles on a small machine).
With --rounds R both are run R times, alternating, and the medians of their
chunks per second are printed with their ratio: this machine's speed drifts by
more than the difference between them.

At the largest size: one added article re-indexed (the "T s" the command
prints), then a bot: cold start (engine built and warmed), warm answer latency
p50/p95 over --questions distinct RealTime QA questions, and its peak RSS, beside
the bot of --bot-baseline-rev on the same store (interleaved, best of 2 each).

With --server-size M (0 to skip), M articles are indexed into a real `chroma run`
and `redis-server` (started here on loopback, throwaway folders) and the same
bot is measured against them and against the embedded store of the same M
articles: what a store on the server costs per query. With --chroma-timeout S
the server's indexer and bots run with CHROMA_TIMEOUT=S, so a run that completes
shows every request of that re-index answered within S seconds (the indexer
stops, naming the setting, at the first that does not). The report goes to
stdout, progress to stderr.

--steps runs some of the steps (indexing the sizes, one added article, the bot,
the server comparison); with --work DIR the stores are kept in DIR, so a later
run can take the steps after indexing on the stores an earlier one built.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
REALTIMEQA = SHARED / "corpora" / "realtimeqa-2024"
BASELINE_REV = "2b5d9fb"  # main before batched indexing (index/streaming.py)
# main before the reader's words-only shortlist and stored term statistics
BOT_BASELINE_REV = "23db3e3"
SUMMARY = re.compile(
    r"(\d+) added, (\d+) updated, (\d+) removed, (\d+) unchanged; (\d+) chunks; ([\d.]+) s"
)


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def write_corpus(folder: Path, count: int, skip: int = 0) -> int:
    """Articles skip..skip+count as .txt files (title on line 1); how many were written."""
    folder.mkdir(parents=True, exist_ok=True)
    written = 0
    with gzip.open(REALTIMEQA / "articles.jsonl.gz", "rt", encoding="utf-8") as lines:
        for number, line in enumerate(lines):
            if number < skip:
                continue
            if written == count:
                break
            row = json.loads(line)
            title = " ".join((row.get("title") or row["url"]).split())
            text = (row.get("text") or "").strip()
            if not text:
                continue
            (folder / f"{number:05d}.txt").write_text(f"{title}\n\n{text}\n", encoding="utf-8")
            written += 1
    return written


def run_child(command: list[str], env: dict[str, str], cwd: Path) -> str:
    """Run a child to its end; its stdout."""
    result = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(
            f"{' '.join(command)} failed ({result.returncode}):\n{result.stderr[-3000:]}"
        )
    return result.stdout


def sample_rss(process: subprocess.Popen, every: float = 60.0) -> None:
    """Log a long child's resident memory now and then, so a run cut short still tells."""
    started = time.perf_counter()
    while process.poll() is None:
        time.sleep(every)
        try:
            status = Path(f"/proc/{process.pid}/status").read_text()
        except OSError:
            return
        rss = next(
            (line.split()[1] for line in status.splitlines() if line.startswith("VmRSS")), "?"
        )
        hwm = next(
            (line.split()[1] for line in status.splitlines() if line.startswith("VmHWM")), "?"
        )
        log(f"  {time.perf_counter() - started:6.0f} s: RSS {rss} kB, peak so far {hwm} kB")


def storybot_index(src: Path, env: dict[str, str], cwd: Path) -> dict[str, Any]:
    """`storybot index` from the source tree `src`, its peak RSS from wait4."""
    code = "from bot.cli.app import main; main()"
    command = [sys.executable, "-c", code, "index"]
    child_env = {**env, "PYTHONPATH": str(src)}
    started = time.perf_counter()
    process = subprocess.Popen(
        command, env=child_env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    sampler = threading.Thread(target=sample_rss, args=(process,), daemon=True)
    sampler.start()
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    out = process.stdout.read().decode() if process.stdout else ""
    err = process.stderr.read().decode() if process.stderr else ""
    if status != 0:
        raise SystemExit(f"storybot index ({src}) failed:\n{err[-3000:]}")
    match = SUMMARY.search(out)
    if match is None:
        raise SystemExit(f"no summary line in: {out!r}")
    return {
        "wall_s": seconds,
        "work_s": float(match.group(6)),
        "chunks": int(match.group(5)),
        "added": int(match.group(1)),
        "rss_mib": usage.ru_maxrss / 1024,
    }


def bot_worker(questions: int) -> None:
    """In a child: build the engine from the environment, warm it, answer distinct questions."""
    started = time.perf_counter()
    import resource

    sys.path.insert(0, str(ROOT / "bench"))
    from _common import percentile, quiet_logs

    from bot.answering.engine import AnswerEngine
    from bot.settings import BotSettings

    quiet_logs()
    engine = AnswerEngine.from_settings(BotSettings())
    engine.warm_up()
    cold = time.perf_counter() - started
    asked = []
    with (REALTIMEQA / "questions.jsonl").open(encoding="utf-8") as lines:
        for line in lines:
            asked.append(json.loads(line)["question"])
            if len(asked) == questions:
                break
    latencies = []
    for number, question in enumerate(asked):
        began = time.perf_counter()
        engine.ask(f"bench-{number}", question)
        latencies.append((time.perf_counter() - began) * 1000)
    print(
        json.dumps(
            {
                "cold_s": cold,
                "p50_ms": percentile(latencies, 50),
                "p95_ms": percentile(latencies, 95),
                "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            }
        )
    )


def measure_bot(env: dict[str, str], cwd: Path, questions: int, src: Path = ROOT) -> dict[str, Any]:
    """A bot of the code in `src` (this tree or an unpacked baseline) in a child process."""
    command = [sys.executable, str(Path(__file__).resolve()), "--bot-worker", str(questions)]
    stdout = run_child(command, {**env, "PYTHONPATH": str(src)}, cwd)
    return json.loads(stdout.strip().splitlines()[-1])


def base_env(work: Path) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("STORYBOT_", "OPENAI_", "CHROMA_"))
    }
    env.update(ANONYMIZED_TELEMETRY="False", HF_HUB_OFFLINE="1", STORYBOT_LOG_LEVEL="WARNING")
    env["STORYBOT_CORPUS"] = str(work / "corpus")
    env["STORYBOT_STORE"] = str(work / "store")
    return env


def unpack_baseline(rev: str, into: Path) -> Path:
    into.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", rev], check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def same_model_id(baseline: Path) -> None:
    """Let an older tree's bot open this tree's store: the same model under this tree's
    RECIPE_VERSION. A version bump that changes the vectors only in rounding (onnxruntime
    options) would otherwise refuse the store; the baseline then embeds questions the old
    way, which costs what it cost then, and the comparison stays one of latency."""
    from index.local_model import RECIPE_VERSION

    recipe = baseline / "index" / "local_model.py"
    text = recipe.read_text(encoding="utf-8")
    recipe.write_text(
        re.sub(r"^RECIPE_VERSION = \d+$", f"RECIPE_VERSION = {RECIPE_VERSION}", text, flags=re.M),
        encoding="utf-8",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100,1000,8484")
    parser.add_argument("--baseline-rev", default=BASELINE_REV)
    parser.add_argument("--baseline-max", type=int, default=1000)
    parser.add_argument("--bot-baseline-rev", default=BOT_BASELINE_REV)
    parser.add_argument("--questions", type=int, default=40)
    parser.add_argument("--server-size", type=int, default=1000)
    parser.add_argument(
        "--chroma-timeout",
        type=float,
        help="CHROMA_TIMEOUT of the server step's indexer and bots: does every request of "
        "a re-index of --server-size articles answer within it?",
    )
    parser.add_argument("--steps", default="index,update,bot,server")
    parser.add_argument(
        "--rounds", type=int, default=1, help="index each size this many times, interleaved"
    )
    parser.add_argument("--work", type=Path, help="keep the stores here (default: a temp dir)")
    parser.add_argument("--bot-worker", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bot_worker:
        bot_worker(args.bot_worker)
        return
    steps = set(args.steps.split(","))
    with contextlib.ExitStack() as stack:
        if args.work is None:
            root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="storybot-scale-")))
        else:
            root = args.work
            root.mkdir(parents=True, exist_ok=True)
        run_steps(args, steps, root)


def run_steps(args: argparse.Namespace, steps: set[str], root: Path) -> None:
    sizes = [int(s) for s in args.sizes.split(",")]
    largest = root / f"batched-{sizes[-1]}"
    if args.server_size and "server" in steps:  # first: short; it should not wait for the rest
        server_cost(root, args.server_size, args.questions, args.chroma_timeout)
    if "index" in steps:
        shutil.rmtree(root / "baseline-src", ignore_errors=True)
        baseline = unpack_baseline(args.baseline_rev, root / "baseline-src")
        print(f"storybot index, RealTime QA articles (baseline = {args.baseline_rev}, same run)")
        heads = ("articles", "chunks", "wall s", "chunks/s", "ms/article", "peak RSS MiB")
        print(f"{'':18} " + " ".join(f"{h:>8}" for h in heads), flush=True)
        for size in sizes:
            rates: dict[str, list[float]] = {}
            # Interleaved rounds, so that a slow spell of the machine hits both alike.
            for _ in range(args.rounds):
                for label, src in (("batched", ROOT), (f"baseline {args.baseline_rev}", baseline)):
                    if label != "batched" and size > args.baseline_max:
                        continue
                    work = root / f"{label.split()[0]}-{size}"
                    shutil.rmtree(work, ignore_errors=True)
                    written = write_corpus(work / "corpus", size)
                    log(f"{label}: indexing {written} articles")
                    row = storybot_index(src, base_env(work), work)
                    rate = row["chunks"] / row["work_s"]
                    rates.setdefault(label, []).append(rate)
                    print(
                        f"{label:18} {written:8} {row['chunks']:8} {row['wall_s']:8.1f} "
                        f"{rate:8.1f} {1000 * row['work_s'] / written:10.1f} "
                        f"{row['rss_mib']:8.0f}",
                        flush=True,
                    )
            if args.rounds > 1:
                print_rate_medians(size, rates)

    env = base_env(largest)
    if "update" in steps:
        # One article it has not seen (the story of corpus/), then one news article changed.
        shutil.copy(ROOT / "corpus" / "ken-loach-expelled.md", largest / "corpus")
        added = storybot_index(ROOT, env, largest)
        print(
            f"\none added article at {sizes[-1]}: {added['work_s']:.1f} s of work "
            f"({added['wall_s']:.1f} s wall with start-up), peak RSS {added['rss_mib']:.0f} MiB"
        )
        changed = min((largest / "corpus").glob("*.txt"))
        with changed.open("a", encoding="utf-8") as text:
            text.write("\nThis article was updated with one more paragraph.\n")
        updated = storybot_index(ROOT, env, largest)
        print(
            f"one updated article at {sizes[-1]}: {updated['work_s']:.1f} s of work "
            f"({updated['wall_s']:.1f} s wall with start-up), "
            f"peak RSS {updated['rss_mib']:.0f} MiB"
        )
    if "bot" in steps:
        bot_latency(root, env, largest, sizes[-1], args)


def print_rate_medians(size: int, rates: dict[str, list[float]]) -> None:
    """Median chunks per second of each indexer at `size`, and the ratio of the medians."""
    medians = {label: statistics.median(values) for label, values in rates.items()}
    line = ", ".join(f"{label} {median:.1f}" for label, median in medians.items())
    print(f"median chunks/s at {size} over {len(rates['batched'])} rounds: {line}", end="")
    if len(medians) == 2:
        batched, baseline = medians.values()
        print(f"; ratio {batched / baseline:.3f}", end="")
    print(flush=True)


def bot_latency(
    root: Path, env: dict[str, str], store: Path, size: int, args: argparse.Namespace
) -> None:
    """This tree's bot and the baseline's on the same store, interleaved, best of 2 each."""
    shutil.rmtree(root / "bot-baseline-src", ignore_errors=True)
    baseline = unpack_baseline(args.bot_baseline_rev, root / "bot-baseline-src")
    same_model_id(baseline)
    runs: dict[str, list[dict[str, Any]]] = {"this tree": [], args.bot_baseline_rev: []}
    for _ in range(2):
        for label, src in (("this tree", ROOT), (args.bot_baseline_rev, baseline)):
            log(f"bot ({label}) on the {size}-article store")
            runs[label].append(measure_bot(env, store, args.questions, src))
    print(f"\nbot at {size} articles, {args.questions} questions, best of 2 bots each (same run):")
    for label, results in runs.items():
        best = min(results, key=lambda r: r["p95_ms"])
        print(
            f"  {label:10} cold start {min(r['cold_s'] for r in results):6.1f} s  warm p50 "
            f"{min(r['p50_ms'] for r in results):4.0f} ms  p95 {best['p95_ms']:4.0f} ms  "
            f"peak RSS {max(r['rss_mib'] for r in results):5.0f} MiB",
            flush=True,
        )


def server_cost(root: Path, size: int, questions: int, chroma_timeout: float | None) -> None:
    """The same bot on the same articles: embedded store against chroma run + redis-server
    (with `chroma_timeout` as CHROMA_TIMEOUT, if given)."""
    sys.path.insert(0, str(ROOT / "tests"))
    from servers import chroma_server, redis_server

    work = root / f"server-{size}"
    write_corpus(work / "corpus", size)
    embedded = base_env(work)
    log(f"embedded store of {size} articles")
    storybot_index(ROOT, embedded, work)
    chroma = chroma_server(root / "chroma-data").start()
    redis = redis_server(root / "redis-data").start()
    try:
        served = {
            **base_env(work),
            "CHROMA_HOST": "127.0.0.1",
            "CHROMA_PORT": str(chroma.port),
            "STORYBOT_REDIS_URL": f"redis://127.0.0.1:{redis.port}/0",
            "STORYBOT_STORE": str(work / "bm25-cache"),
        }
        if chroma_timeout is not None:
            served["CHROMA_TIMEOUT"] = f"{chroma_timeout:g}"
        log(f"server store of {size} articles")
        indexed = storybot_index(ROOT, served, work)
        limit = served.get("CHROMA_TIMEOUT", "the default")
        print(
            f"server store: {size} articles, {indexed['chunks']} chunks indexed in "
            f"{indexed['wall_s']:.0f} s, every Chroma request within CHROMA_TIMEOUT={limit}",
            flush=True,
        )
        # Interleaved, so a noisy spell on the machine slows both alike.
        results: dict[str, list[dict[str, Any]]] = {"embedded": [], "server": []}
        for _ in range(2):
            results["embedded"].append(measure_bot(embedded, work, questions))
            results["server"].append(measure_bot(served, work, questions))
    finally:
        chroma.stop()
        redis.stop()
    print(f"\nper query, {size} articles, {questions} questions, best of 2 bots each (same run):")
    for label, runs in results.items():
        p50 = min(r["p50_ms"] for r in runs)
        p95 = min(r["p95_ms"] for r in runs)
        cold = min(r["cold_s"] for r in runs)
        print(f"  {label:8}  p50 {p50:6.0f} ms  p95 {p95:6.0f} ms  cold start {cold:5.1f} s")


if __name__ == "__main__":
    main()
