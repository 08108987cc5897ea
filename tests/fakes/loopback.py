"""An aiohttp application served on 127.0.0.1 from its own thread and event loop.

The base of the test servers that stand in for services we cannot reach here
(the OpenAI API, the Telegram Bot API): tests stay synchronous, the server
answers real HTTP on a free loopback port.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from typing import Self

from aiohttp import web


class LoopbackServer:
    """Subclasses build the app (`make_app`) and may hook `_on_start` / `_on_stop`."""

    thread_name = "loopback-server"

    def __init__(self, port: int = 0) -> None:
        self._port = port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._bound_port: int | None = None

    def make_app(self) -> web.Application:
        raise NotImplementedError

    async def _on_start(self) -> None:
        """On the server loop, before the socket opens."""

    def _on_stop(self, loop: asyncio.AbstractEventLoop) -> None:
        """From the stopping thread, before the app is cleaned up (wake waiting handlers)."""

    def _on_stopped(self) -> None:
        """After the loop has stopped: drop per-run state."""

    @property
    def port(self) -> int:
        if self._bound_port is None:
            raise RuntimeError("server not started")
        return self._bound_port

    def start(self) -> Self:
        if self._thread is not None:
            raise RuntimeError("server already started")
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(target=loop.run_forever, name=self.thread_name, daemon=True)
        self._thread.start()
        try:
            asyncio.run_coroutine_threadsafe(self._astart(), loop).result(timeout=10)
        except BaseException:
            self._shutdown_loop()
            raise
        return self

    async def _astart(self) -> None:
        await self._on_start()
        runner = web.AppRunner(self.make_app(), access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.bind(("127.0.0.1", self._port))
            sock.listen(128)
            sock.setblocking(False)
            await web.SockSite(runner, sock).start()
        except BaseException:
            sock.close()
            await runner.cleanup()
            raise
        self._runner = runner
        self._bound_port = sock.getsockname()[1]

    def stop(self) -> None:
        """Stop serving, cutting short any request still waiting; safe to call twice."""
        loop = self._loop
        if loop is None:
            return
        with contextlib.suppress(RuntimeError):
            self._on_stop(loop)
        if self._runner is not None:
            fut = asyncio.run_coroutine_threadsafe(self._runner.cleanup(), loop)
            try:
                fut.result(timeout=5)
            except Exception:
                fut.cancel()
        self._shutdown_loop()

    def _shutdown_loop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is not None:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(loop.stop)
        if thread is not None:
            thread.join(timeout=5)
        if loop is not None and not loop.is_running():
            loop.close()
        self._loop = self._thread = self._runner = None
        self._bound_port = None
        self._on_stopped()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
