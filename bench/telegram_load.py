"""Load on the Telegram bot: many chats asking at once, through a local Bot API server.

`storybot run` (the real command, in its own process) polls a local Telegram
Bot API server (tests/fakes/telegram_server/) on 127.0.0.1. The script injects
CHATS private chats asking QUESTIONS questions each, all at once, then
reports whether every question was answered, whether answers kept their order
within each chat, the latency from update to answer (p50, p95), and the bot's
peak RSS. Then the same chats converse: each asks its next question when the
previous one is answered. Both with Telegram's flood limit (30 messages a
second, PTB's AIORateLimiter) and without it; with it, the report also gives the
best a burst could do under that limit alone. Beside it, in the same run:
the answer engine called directly, one question after another, for the
bot-free cost of the same answers.

    .venv/bin/python bench/telegram_load.py [--chats 50] [--questions 3]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from _common import percentile  # noqa: E402
from fakes.telegram_server import TelegramBotAPIServer  # noqa: E402

from bot.answering.engine import AnswerEngine  # noqa: E402
from bot.settings import BotSettings  # noqa: E402
from index.articles import load_corpus  # noqa: E402
from index.indexer import run_index  # noqa: E402


def dev_questions() -> list[str]:
    lines = (ROOT / "tests/data/story_dev.jsonl").read_text().splitlines()
    items = [json.loads(line) for line in lines]
    return [i["turns"][0] for i in items if i.get("in_scope", True) and len(i["turns"]) == 1]


def start_bot(
    server: TelegramBotAPIServer, store: Path, data: Path, messages_per_second: float
) -> subprocess.Popen:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "STORYBOT_"))},
        "TELEGRAM_BOT_TOKEN": server.token,
        "TELEGRAM_BASE_URL": server.base_url,
        "STORYBOT_STORE": str(store),
        "STORYBOT_MEMORY": str(data / "memory.sqlite3"),
        "STORYBOT_FEEDBACK": str(data / "feedback.sqlite3"),
        "STORYBOT_QUESTIONS_PER_MINUTE": "100",
        "STORYBOT_TELEGRAM_MESSAGES_PER_SECOND": str(messages_per_second),
    }
    return subprocess.Popen([str(ROOT / ".venv/bin/storybot"), "run"], env=env, cwd=data)


def load_run(server, questions, chats: int, per_chat: int) -> dict:
    """Inject every question at once; wait for every answer."""
    asked: dict[tuple[int, int], float] = {}
    order: dict[int, list[int]] = {}
    for user in range(1, chats + 1):
        server.user(1000 + user, f"User {user}")
    started = time.monotonic()
    for turn in range(per_chat):
        for user in range(1, chats + 1):
            chat = 1000 + user
            question = questions[(user + turn) % len(questions)]
            message = server.send_text(chat, chat, question)
            asked[(chat, message["message_id"])] = time.monotonic()
            order.setdefault(chat, []).append(message["message_id"])
    total = chats * per_chat

    def answered(s) -> int:
        return sum(1 for c in s.calls("sendMessage") if c.ok and c.reply_to is not None)

    with contextlib.suppress(TimeoutError):  # reported below as unanswered questions
        server.wait_for(lambda s: answered(s) >= total, timeout=300)
    wall = time.monotonic() - started
    replies = [c for c in server.calls("sendMessage") if c.ok and c.reply_to is not None]
    latencies, kept_order = [], True
    for chat, ids in order.items():
        in_chat = sorted((c for c in replies if c.chat_id == chat), key=lambda c: c.at)
        if [c.reply_to for c in in_chat] != ids:
            kept_order = False
        latencies += [c.at - asked[(chat, c.reply_to)] for c in in_chat]
    return {
        "answered": len(replies),
        "total": total,
        "kept_order": kept_order,
        "p50": percentile(latencies, 50),
        "p95": percentile(latencies, 95),
        "wall": wall,
        "errors": [c.error for c in server.sent if not c.ok],
    }


def conversation_run(server, questions, chats: int, per_chat: int) -> dict:
    """Every chat at once, each asking its next question when the last is answered."""
    latencies: list[float] = []
    lock = threading.Lock()
    for user in range(1, chats + 1):
        server.user(5000 + user, f"Reader {user}")

    def chat_session(chat: int) -> None:
        for turn in range(per_chat):
            message = server.send_text(chat, chat, questions[(chat + turn) % len(questions)])
            asked = time.monotonic()

            def replied(s, mid=message["message_id"], chat=chat) -> bool:
                return any(
                    c.ok and c.chat_id == chat and c.reply_to == mid for c in s.calls("sendMessage")
                )

            server.wait_for(replied, timeout=300)
            with lock:
                latencies.append(time.monotonic() - asked)

    started = time.monotonic()
    threads = [threading.Thread(target=chat_session, args=(5000 + u,)) for u in range(1, chats + 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {
        "answered": len(latencies),
        "p50": percentile(latencies, 50),
        "p95": percentile(latencies, 95),
        "wall": time.monotonic() - started,
    }


def direct_run(settings: BotSettings, questions: list[str], count: int) -> dict:
    """The engine alone, sequentially, warm: what each answer costs without Telegram."""
    engine = AnswerEngine.from_settings(settings)
    engine.ask("warm-up", questions[0])
    times = []
    for i in range(count):
        began = time.perf_counter()
        engine.ask(f"direct-{i}", questions[i % len(questions)])
        times.append(time.perf_counter() - began)
    return {"p50": statistics.median(times), "p95": percentile(times, 95), "sum": sum(times)}


def bot_run(settings: BotSettings, data: Path, args, messages_per_second: float) -> dict:
    """One `storybot run` process: the burst, then the conversations, then its peak RSS."""
    questions = dev_questions()
    with TelegramBotAPIServer() as server:
        bot = start_bot(server, settings.store_dir, data, messages_per_second)
        try:
            server.wait_for(lambda s: s.commands, timeout=120)
            load = load_run(server, questions, args.chats, args.questions)
            talk = conversation_run(server, questions, args.chats, args.questions)
        finally:
            bot.send_signal(signal.SIGINT)
            _, _, usage = os.wait4(bot.pid, 0)
    return {"load": load, "talk": talk, "rss_mb": usage.ru_maxrss / 1024}


def flood_floor(total: int, rate: float, share: float) -> float:
    """The least `share` (0..1) percentile of a burst of `total` answers under `rate`/s.

    AIORateLimiter's bucket lets `rate` messages go at once, then `rate` a second,
    so answer k (from 0) cannot leave before (k + 1 - rate) / rate seconds; the
    percentile of those times is taken as every latency here is (`percentile`).
    """
    earliest = [max(0.0, (k + 1 - rate) / rate) for k in range(total)]
    return percentile(earliest, share * 100) or 0.0


def report(limit: float, run: dict, total: int) -> None:
    load, talk = run["load"], run["talk"]
    name = f"{limit:g} messages/s" if limit else "no overall limit"
    print(f"\nflood control {name}:")
    print(
        f"  burst: {load['answered']}/{total} answered, order kept in every chat: "
        f"{load['kept_order']}, failed bot calls: {len(load['errors'])}; update -> answer "
        f"p50 {load['p50'] * 1000:.0f} ms, p95 {load['p95'] * 1000:.0f} ms; "
        f"last answer after {load['wall']:.1f} s"
    )
    if limit:
        print(
            f"  (the limit alone allows no better than p50 "
            f"{flood_floor(total, limit, 0.5) * 1000:.0f} ms, p95 "
            f"{flood_floor(total, limit, 0.95) * 1000:.0f} ms for the burst)"
        )
    print(
        f"  conversations: {talk['answered']}/{total} answered; p50 {talk['p50'] * 1000:.0f} ms, "
        f"p95 {talk['p95'] * 1000:.0f} ms; {talk['wall']:.1f} s in all"
    )
    print(f"  bot peak RSS {run['rss_mb']:.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chats", type=int, default=50)
    parser.add_argument("--questions", type=int, default=3)
    args = parser.parse_args()
    total = args.chats * args.questions
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        settings = BotSettings(
            corpus_dir=ROOT / "corpus",
            store_dir=data / "store",
            memory_path=data / "direct-memory.sqlite3",
            openai_api_key=None,
        )
        run_index(settings, load_corpus(settings.corpus_dir))
        # Telegram's own limit (30 messages/s), then none: what the flood control costs.
        runs = {limit: bot_run(settings, data, args, limit) for limit in (30, 0)}
        direct = direct_run(settings, dev_questions(), total)

    print(f"{args.chats} chats x {args.questions} questions (extractive mode), `storybot run`")
    print(
        f"baseline, engine alone, one at a time, warm: p50 {direct['p50'] * 1000:.0f} ms, "
        f"p95 {direct['p95'] * 1000:.0f} ms; {total} answers = {direct['sum']:.1f} s of work"
    )
    for limit, run in runs.items():
        report(limit, run, total)
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\n(this script's own peak RSS, server + direct engine: {own:.0f} MB)")


if __name__ == "__main__":
    main()
