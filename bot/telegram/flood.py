"""Flood control: PTB's AIORateLimiter for messages, first come first served."""

from __future__ import annotations

import asyncio

from aiolimiter import AsyncLimiter
from telegram.ext import AIORateLimiter


class FairLimiter(AsyncLimiter):
    """aiolimiter's leaky bucket, handing out capacity in the order it was asked for.

    aiolimiter wakes the first waiter when capacity drips in, but a caller that
    arrives before the woken one runs takes it, and the woken one queues again
    at the back. With answers arriving as fast as they leave, that doubled the
    wait of some answers (one in a few hundred, 3.3 s instead of 1.7 s at
    30 messages/s with 50 busy chats). Here callers wait their turn on a FIFO
    lock; only the head of the line waits in the bucket.
    """

    def __init__(self, max_rate: float, time_period: float = 60) -> None:
        super().__init__(max_rate, time_period)
        self._turn = asyncio.Lock()

    async def acquire(self, amount: float = 1) -> None:
        async with self._turn:
            await super().acquire(amount)


class MessageRateLimiter(AIORateLimiter):
    """PTB's flood control for messages; "typing…" indicators skip the queue.

    Telegram's flood limits are about messages. Queueing chat actions behind
    them would double the wait for every answer in a busy minute, and a lost
    "typing…" costs nothing (the handler ignores its errors).
    """

    def __init__(self, overall_max_rate: float, max_retries: int = 0) -> None:
        super().__init__(overall_max_rate=overall_max_rate, max_retries=max_retries)
        if self._base_limiter is not None:  # None when there is no overall limit
            # The same bucket as AIORateLimiter's (overall_max_rate a second), made fair.
            self._base_limiter = FairLimiter(overall_max_rate, 1)

    async def process_request(self, callback, args, kwargs, endpoint, data, rate_limit_args):
        if endpoint == "sendChatAction":
            return await callback(*args, **kwargs)
        return await super().process_request(
            callback, args, kwargs, endpoint, data, rate_limit_args
        )
