"""A per-user limit on questions: at most N in any sliding minute."""

from __future__ import annotations

import time
from collections import defaultdict, deque


class QuestionRateLimit:
    """Sliding-window counter; `allow` records the question when it is allowed."""

    def __init__(self, per_minute: int, window_seconds: float = 60.0):
        self.per_minute = per_minute
        self.window = window_seconds
        self._asked: defaultdict[int, deque[float]] = defaultdict(deque)

    def allow(self, user_id: int) -> bool:
        now = time.monotonic()
        asked = self._asked[user_id]
        while asked and now - asked[0] >= self.window:
            asked.popleft()
        if len(asked) >= self.per_minute:
            return False
        asked.append(now)
        return True

    def retry_in(self, user_id: int) -> float:
        """Seconds until the user may ask again."""
        asked = self._asked.get(user_id)
        if not asked:
            return 0.0
        return max(0.0, self.window - (time.monotonic() - asked[0]))
