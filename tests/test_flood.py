"""Flood control: messages get the bucket's capacity in the order they asked for it."""

from __future__ import annotations

import asyncio
import random

from bot.telegram.flood import FairLimiter, MessageRateLimiter


def test_capacity_goes_to_callers_in_the_order_they_asked():
    async def run() -> list[int]:
        limiter = FairLimiter(5, 0.05)  # 100 a second, five at once
        asked: list[int] = []
        served: list[int] = []

        async def caller(n: int) -> None:
            # Callers keep arriving while others wait, as answers do in a busy minute.
            await asyncio.sleep(random.random() * 0.2)
            asked.append(n)
            await limiter.acquire()
            served.append(n)

        await asyncio.gather(*(caller(n) for n in range(40)))
        return [asked.index(n) for n in served]

    random.seed(7)
    for _ in range(3):
        order = asyncio.run(run())
        assert order == sorted(order)


def test_the_limit_holds():
    async def run() -> float:
        limiter = FairLimiter(10, 0.1)  # 100 a second, ten at once
        loop = asyncio.get_running_loop()
        began = loop.time()
        await asyncio.gather(*(limiter.acquire() for _ in range(30)))
        return loop.time() - began

    # Ten at once, then twenty more at 100 a second.
    assert asyncio.run(run()) >= 0.19


def test_the_overall_limit_is_fair_and_zero_means_none():
    assert isinstance(MessageRateLimiter(30)._base_limiter, FairLimiter)
    assert MessageRateLimiter(30)._base_limiter.max_rate == 30
    assert MessageRateLimiter(0)._base_limiter is None
