"""Two machines that share nothing but the servers' addresses: an indexer and a bot.

Each is a separate `storybot` process with its own working folder; the Chroma
server (`chroma run`) and Redis are real, started for the session on loopback.
The bot answers in hybrid mode, picks up the indexer's re-index while running,
a second indexer is refused (or waits) while the lease is held elsewhere, and a
bot killed mid-conversation is replaced by another that continues it.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import redis
from conftest import write_corpus
from constants import FIRST_QUESTION, FOLLOW_UP, LIGHTHOUSE_ID, REPO

from index.namespaces import Namespace
from index.shared import LeaseLock

LIGHTHOUSE_TITLE = "Lighthouse keeper rescues stranded kayakers off the Cornish coast"
LIGHTHOUSE_QUESTION = "How old is the lighthouse keeper who rescued the kayakers?"
REPLY_TIMEOUT = 180.0


def machine_env(folder: Path, chroma, redis_server, namespace: str) -> dict[str, str]:
    """What a machine is told: where the servers are, which story; its own folders."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("STORYBOT_", "OPENAI_", "CHROMA_"))
    }
    env.update(
        PYTHONPATH=str(REPO),
        CHROMA_HOST="127.0.0.1",
        CHROMA_PORT=str(chroma.port),
        STORYBOT_REDIS_URL=f"redis://127.0.0.1:{redis_server.port}/0",
        STORYBOT_NAMESPACE=namespace,
        STORYBOT_CORPUS=str(folder / "corpus"),
        STORYBOT_STORE=str(folder / "store"),
        ANONYMIZED_TELEMETRY="False",
        HF_HUB_OFFLINE="1",
    )
    folder.mkdir(parents=True, exist_ok=True)
    return env


def storybot(*args: str) -> list[str]:
    return [sys.executable, "-c", "from bot.cli.app import main; main()", *args]


def run(folder: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        storybot(*args), cwd=folder, env=env, capture_output=True, text=True, timeout=600
    )


class Bot:
    """A running `storybot chat --json`: one question in, one JSON line out."""

    def __init__(self, folder: Path, env: dict[str, str], conversation: str):
        self.stderr = folder / "bot.log"
        with self.stderr.open("wb") as log:
            self.process = subprocess.Popen(
                storybot("--log-level", "INFO", "chat", "--json", "--chat", conversation),
                cwd=folder,
                env=env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
            )

    def ask(self, question: str) -> dict:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(question.encode() + b"\n")
        self.process.stdin.flush()
        ready, _, _ = select.select([self.process.stdout], [], [], REPLY_TIMEOUT)
        assert ready, f"no reply in {REPLY_TIMEOUT} s:\n{self.stderr.read_text()[-3000:]}"
        line = self.process.stdout.readline()
        assert line, f"the bot exited:\n{self.stderr.read_text()[-3000:]}"
        return json.loads(line)

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()


def titles(reply: dict) -> set[str]:
    return {c["title"] for c in reply["citations"]}


def test_an_indexer_and_bots_on_separate_machines_share_only_the_servers(
    chroma, redis_server, tmp_path: Path, namespace: str
) -> None:
    indexer_dir = tmp_path / "indexer-machine"
    indexer = machine_env(indexer_dir, chroma, redis_server, namespace)
    corpus = write_corpus(indexer_dir / "corpus")
    (corpus / LIGHTHOUSE_ID).unlink()
    built = run(indexer_dir, indexer, "index")
    assert built.returncode == 0, built.stderr

    bot_dir = tmp_path / "bot-machine"
    bot = Bot(bot_dir, machine_env(bot_dir, chroma, redis_server, namespace), "newsroom")
    try:
        before = bot.ask(LIGHTHOUSE_QUESTION)
        assert LIGHTHOUSE_TITLE not in titles(before)
        log = bot.stderr.read_text()
        assert "hybrid search (vectors + BM25)" in log, log
        assert "vector search only" not in log

        # The indexer adds an article and re-indexes; the running bot answers from it.
        write_corpus(corpus)
        added = run(indexer_dir, indexer, "index")
        assert added.returncode == 0, added.stderr
        assert added.stdout.startswith("1 added")
        after = bot.ask(LIGHTHOUSE_QUESTION)
        assert LIGHTHOUSE_TITLE in titles(after), after

        first = bot.ask(FIRST_QUESTION)
        assert "Labour Against the Witchhunt" in first["answer"]
    finally:
        bot.kill()  # killed mid-conversation, as a machine going away

    # Another bot on another machine continues the conversation.
    other_dir = tmp_path / "another-bot-machine"
    other = Bot(other_dir, machine_env(other_dir, chroma, redis_server, namespace), "newsroom")
    try:
        follow = other.ask(FOLLOW_UP)
    finally:
        other.kill()
    assert FIRST_QUESTION in follow["standalone_question"]
    assert "July 20" in follow["answer"]
    assert not (bot_dir / "data").exists()  # no memory or feedback files left behind
    assert not (other_dir / "data").exists()


def test_a_second_indexer_elsewhere_is_refused_or_waits(
    chroma, redis_server, tmp_path: Path, namespace: str
) -> None:
    second_dir = tmp_path / "second-indexer-machine"
    env = machine_env(second_dir, chroma, redis_server, namespace)
    write_corpus(second_dir / "corpus")
    url = env["STORYBOT_REDIS_URL"]
    # The first indexer, on "another machine", holds the lease.
    first = LeaseLock(redis.Redis.from_url(url), url, Namespace(namespace))
    first.acquire()
    try:
        refused = run(second_dir, env, "index")
        assert refused.returncode == 3, refused.stderr
        assert "another `storybot index`" in refused.stderr
        assert f"pid {os.getpid()}" in refused.stderr  # who holds it
        assert refused.stdout == ""

        timer = threading.Timer(3.0, first.release)
        timer.start()
        waited = run(second_dir, env, "index", "--wait", "300")
        timer.join()
    finally:
        first.release()
    assert waited.returncode == 0, waited.stderr
    assert waited.stdout.startswith("3 added")


@pytest.mark.parametrize("missing", ["chroma", "redis"])
def test_a_server_that_is_down_is_named_with_exit_status_2(
    chroma, redis_server, tmp_path: Path, namespace: str, missing: str
) -> None:
    from conftest import closed_port

    folder = tmp_path / "machine"
    env = machine_env(folder, chroma, redis_server, namespace)
    write_corpus(folder / "corpus")
    assert run(folder, env, "index").returncode == 0
    if missing == "chroma":
        env["CHROMA_PORT"] = str(closed_port())
    else:
        env["STORYBOT_REDIS_URL"] = f"redis://127.0.0.1:{closed_port()}/0"
    for args in (["index"], ["ask", "Who is Ken Loach?"]):
        result = run(folder, env, *args)
        assert result.returncode == 2, (args, result.stderr)
        setting = "CHROMA_HOST" if missing == "chroma" else "STORYBOT_REDIS_URL"
        assert setting in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.stderr
    if missing == "chroma":  # a bot that cannot reach its store says so at start-up
        env.update(
            TELEGRAM_BOT_TOKEN="123:abc", TELEGRAM_BASE_URL=f"http://127.0.0.1:{closed_port()}"
        )
        result = run(folder, env, "run")
        assert result.returncode == 2, result.stderr
        assert "CHROMA_HOST" in result.stderr


@pytest.mark.parametrize("stopped", ["chroma", "redis"])
def test_a_bot_recovers_without_a_restart_when_a_server_comes_back(
    tmp_path: Path, namespace: str, stopped: str
) -> None:
    from servers import chroma_server, redis_server

    servers = {
        "chroma": chroma_server(tmp_path / "chroma-data").start(),
        "redis": redis_server(tmp_path / "redis-data").start(),
    }
    try:
        folder = tmp_path / "machine"
        env = machine_env(folder, servers["chroma"], servers["redis"], namespace)
        write_corpus(folder / "corpus")
        assert run(folder, env, "index").returncode == 0
        bot = Bot(folder, env, "recovering")
        try:
            assert bot.ask(FIRST_QUESTION)["citations"]
            servers[stopped].stop()
            down = bot.ask(FOLLOW_UP)  # a polite reply, and the bot keeps running
            assert down["citations"] == []
            assert down["error"] == "cannot answer"
            setting = "CHROMA_HOST" if stopped == "chroma" else "STORYBOT_REDIS_URL"
            assert setting in down["answer"]
            servers[stopped].start()
            back = bot.ask(FOLLOW_UP)
        finally:
            bot.kill()
        assert "July 20" in back["answer"], back
        assert FIRST_QUESTION in back["standalone_question"]
    finally:
        for server in servers.values():
            server.stop()


def test_storybot_stores_lists_each_namespace_and_its_generations(
    chroma, redis_server, tmp_path: Path, namespace: str
) -> None:
    folder = tmp_path / "machine"
    env = machine_env(folder, chroma, redis_server, namespace)
    write_corpus(folder / "corpus")
    other = {**env, "STORYBOT_NAMESPACE": f"{namespace}-two"}
    for settings in (env, other, env):
        assert run(folder, settings, "index", "--rebuild").returncode == 0

    listed = run(folder, env, "stores")

    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    mine = lines.index(f"{namespace}  (this one: STORYBOT_NAMESPACE)")
    assert lines[mine + 1].split()[0] == "live"
    assert lines[mine + 2].split()[0] == "previous"
    assert f"{namespace}-two" in lines
    assert " chunks " in lines[mine + 1]
    # The same list as `storybot index --list`.
    assert run(folder, env, "index", "--list").stdout == listed.stdout
