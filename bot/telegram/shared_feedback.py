"""👍/👎 feedback in Redis (STORYBOT_REDIS_URL), shared by bots on any machine.

The same records as the SQLite `FeedbackStore`: each sent answer under an id
from one counter, each user's latest vote on it, and a sorted set of the
answers with a 👎 by the time of their latest one, so listing them is one range.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Protocol, cast

from bot.answering.answer import Answer
from bot.telegram.feedback import Disliked, FeedbackStore
from index.namespaces import Namespace
from index.shared import REDIS_UNUSABLE, as_text, connect_redis, unavailable

if TYPE_CHECKING:
    from bot.settings import BotSettings


# A vote and the list of 👎 answers change in one step (Redis runs a script alone),
# so votes cast at once by other users or bots cannot leave the list disagreeing
# with the votes. KEYS: the answer's votes, the disliked list; ARGV: user, vote
# ("1 TIME" or "0 TIME"), answer id. The answer is listed by its latest 👎.
_VOTE = """
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
local latest = nil
for _, vote in ipairs(redis.call('HVALS', KEYS[1])) do
  if string.sub(vote, 1, 2) == '0 ' then
    local at = tonumber(string.sub(vote, 3))
    if latest == nil or at > latest then latest = at end
  end
end
if latest then
  redis.call('ZADD', KEYS[2], latest, ARGV[3])
else
  redis.call('ZREM', KEYS[2], ARGV[3])
end
return 1
"""


class Feedback(Protocol):
    def record_answer(self, chat: str, question: str, answer: Answer) -> int: ...

    def vote(self, answer_id: int, user_id: int, helpful: bool) -> bool: ...

    def disliked(self, limit: int = 20) -> list[Disliked]: ...

    def close(self) -> None: ...


def open_feedback(settings: BotSettings) -> Feedback:
    """Redis when STORYBOT_REDIS_URL is set; else the SQLite file STORYBOT_FEEDBACK."""
    if settings.redis_url:
        return RedisFeedbackStore(settings.redis_url, Namespace(settings.namespace).redis_prefix)
    return FeedbackStore(settings.feedback_path)


class RedisFeedbackStore:
    """Answers that were sent, and the votes on them, in Redis."""

    def __init__(self, url: str, prefix: str):
        self.url = url
        self.client = connect_redis(url)
        self._vote = self.client.register_script(_VOTE)
        self.prefix = f"{prefix}feedback:"

    def _answer(self, answer_id: int) -> str:
        return f"{self.prefix}answer:{answer_id}"

    def _votes(self, answer_id: int) -> str:
        return f"{self.prefix}votes:{answer_id}"

    def record_answer(self, chat: str, question: str, answer: Answer) -> int:
        """Keep a sent answer; its id goes into the feedback buttons."""
        citations = json.dumps(answer.to_json()["citations"], ensure_ascii=False)
        try:
            answer_id = int(self.client.incr(f"{self.prefix}next-id"))
            self.client.hset(
                self._answer(answer_id),
                mapping={
                    "chat": chat,
                    "answered_at": time.time(),
                    "question": question,
                    "answer": answer.answer,
                    "citations": citations,
                },
            )
        except REDIS_UNUSABLE as error:
            raise unavailable(self.url, error) from None
        return answer_id

    def vote(self, answer_id: int, user_id: int, helpful: bool) -> bool:
        """Store (or change) one user's vote; False when the answer is unknown."""
        try:
            if not self.client.exists(self._answer(answer_id)):
                return False
            self._vote(
                keys=[self._votes(answer_id), f"{self.prefix}disliked"],
                args=[str(user_id), f"{int(helpful)} {time.time()}", str(answer_id)],
            )
        except REDIS_UNUSABLE as error:
            raise unavailable(self.url, error) from None
        return True

    def disliked(self, limit: int = 20) -> list[Disliked]:
        """The most recently 👎-voted answers, newest first."""
        try:
            ranked = cast(
                "list[tuple[bytes, float]]",
                self.client.zrevrange(f"{self.prefix}disliked", 0, limit - 1, withscores=True),
            )
            result = []
            for raw_id, voted_at in ranked:
                answer_id = int(as_text(raw_id))
                row = {
                    as_text(k): as_text(v)
                    for k, v in self.client.hgetall(self._answer(answer_id)).items()
                }
                votes = map(as_text, self.client.hvals(self._votes(answer_id)))
                down_votes = sum(1 for vote in votes if vote.startswith("0 "))
                result.append(
                    Disliked(
                        answer_id,
                        row["chat"],
                        row["question"],
                        row["answer"],
                        json.loads(row["citations"]),
                        float(voted_at),
                        down_votes,
                    )
                )
        except REDIS_UNUSABLE as error:
            raise unavailable(self.url, error) from None
        return result

    def close(self) -> None:
        self.client.close()
