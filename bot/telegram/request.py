"""PTB's network layer on aiohttp: the same Bot API requests for a fifth of the CPU.

PTB's default, `HTTPXRequest`, spends about 1.8 ms of event-loop time on each
request (httpx, httpcore's connection pool, h11 in pure Python); aiohttp's
C-accelerated client about 0.35 ms. A busy bot makes two requests per answer
(the "typing…" action and the reply), all on the one thread that also hands
out the answers, so this is a good share of what a burst of questions costs
(bench/telegram_load.py).
"""

from __future__ import annotations

from typing import Any

import aiohttp
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

# HTTPXRequest's defaults, so swapping the layer changes no behaviour.
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 5.0
POOL_TIMEOUT = 1.0
# PTB marks a timeout the caller did not pass with an instance of this class.
_DefaultValue = type(BaseRequest.DEFAULT_NONE)


class AiohttpRequest(BaseRequest):
    """Bot API requests over one aiohttp session, with `connections` kept open at most.

    Timeouts follow PTB's meaning: `connect` to open a connection, `read` between
    bytes of the answer, `pool` to wait for a free connection. aiohttp has no
    write timeout, so `write_timeout` is not applied. Proxies come from the
    environment (HTTPS_PROXY, NO_PROXY), as with httpx.
    """

    __slots__ = ("_connections", "_read_timeout", "_session")

    def __init__(self, connections: int = 256, read_timeout: float | None = READ_TIMEOUT):
        self._connections = connections
        self._read_timeout = read_timeout
        self._session: aiohttp.ClientSession | None = None

    @property
    def read_timeout(self) -> float | None:
        return self._read_timeout

    async def initialize(self) -> None:
        # Created here, not in __init__: a session belongs to the running event loop.
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._connections),
                headers={"User-Agent": self.USER_AGENT},
                trust_env=True,
            )

    async def shutdown(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = BaseRequest.DEFAULT_NONE,
        write_timeout: Any = BaseRequest.DEFAULT_NONE,
        connect_timeout: Any = BaseRequest.DEFAULT_NONE,
        pool_timeout: Any = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        if self._session is None or self._session.closed:
            raise RuntimeError("This AiohttpRequest is not initialized!")
        read = self._read_timeout if isinstance(read_timeout, _DefaultValue) else read_timeout
        connect = CONNECT_TIMEOUT if isinstance(connect_timeout, _DefaultValue) else connect_timeout
        pool = POOL_TIMEOUT if isinstance(pool_timeout, _DefaultValue) else pool_timeout
        timeout = aiohttp.ClientTimeout(
            total=None,
            # aiohttp's `connect` covers waiting for a free connection and opening one.
            connect=None if connect is None or pool is None else connect + pool,
            sock_connect=connect,
            sock_read=read,
        )
        try:
            async with self._session.request(
                method, url, data=_body(request_data), timeout=timeout
            ) as response:
                return response.status, await response.read()
        except TimeoutError as error:  # aiohttp's timeouts subclass it
            raise TimedOut from error
        except aiohttp.ClientError as error:
            raise NetworkError(f"aiohttp.{type(error).__name__}: {error}") from error


def _body(request_data: RequestData | None) -> aiohttp.FormData | dict[str, str] | None:
    """Parameters as a urlencoded form, or multipart when there are files to upload."""
    if request_data is None:
        return None
    files = request_data.multipart_data
    if not files:
        return request_data.json_parameters
    form = aiohttp.FormData(request_data.json_parameters)
    for name, (filename, content, mime_type) in files.items():
        form.add_field(name, content, filename=filename, content_type=mime_type)
    return form
