"""Real servers as child processes: `chroma run` and `redis-server`, on free loopback ports.

Each has a throwaway data folder and is stopped (and waited for) afterwards.
They are the real engines a deployment uses, not fakes: `chroma run` ships with
the chromadb package in the venv; `redis-server` is the Debian package that
`make test` installs when it is missing.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

CHROMA = Path(sys.executable).with_name("chroma")
START_TIMEOUT = 60.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    """A running server process and how to reach it."""

    name: str
    port: int
    data_dir: Path
    command: list[str]
    ready: Callable[[Server], bool]
    process: subprocess.Popen | None = None
    log: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log = self.data_dir.with_suffix(".log")

    def start(self) -> Server:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                self.command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited at start:\n{self.log.read_text()[-2000:]}")
            if self.ready(self):
                return self
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"{self.name} did not start in {START_TIMEOUT} s")

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def restart(self) -> None:
        """The same server on the same port and data folder (after `stop`)."""
        self.stop()
        self.start()


def _chroma_ready(server: Server) -> bool:
    try:
        url = f"http://127.0.0.1:{server.port}/api/v2/heartbeat"
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def _redis_ready(server: Server) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=2) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def chroma_server(data_dir: Path, port: int | None = None) -> Server:
    port = port or free_port()
    command = [str(CHROMA), "run", "--path", str(data_dir), "--host", "127.0.0.1"]
    return Server("chroma", port, data_dir, [*command, "--port", str(port)], _chroma_ready)


def redis_binary() -> str:
    found = shutil.which("redis-server")
    if found is None:
        raise RuntimeError(
            "redis-server is not installed: `apt-get install -y redis-server` (`make test` does)"
        )
    return found


def redis_server(data_dir: Path, port: int | None = None) -> Server:
    port = port or free_port()
    command = [
        redis_binary(),
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--dir",
        str(data_dir),
        # Durable across a restart of the server, as a deployment would be.
        "--appendonly",
        "yes",
        "--save",
        "",
    ]
    return Server("redis", port, data_dir, command, _redis_ready)
