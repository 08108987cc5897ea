"""Values the test files share: paths, the corpora, questions, chat members, fake credentials.

Import them from here (``from constants import ...``: pytest puts ``tests/`` on
``sys.path``), not from ``conftest``, and not as copies in each file. The fake
servers' own identities (the Telegram bot's token and username, the OpenAI
server's default model) are theirs: see ``fakes``.
"""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "tests" / "data"
DEV_FILE = DATA / "story_dev.jsonl"  # the dev questions (and the `make test` quality gate)

# ---------------------------------------------------------------- the story

CORPUS = REPO / "corpus"  # the real corpus: one news story
STORY_ID = "ken-loach-expelled.md"
STORY = CORPUS / STORY_ID

# Questions about the story. DEMO_QUESTION is `make demo`'s; FIRST_QUESTION then
# FOLLOW_UP is a conversation whose second turn only makes sense after the first.
DEMO_QUESTION = "When were the groups proscribed?"
FIRST_QUESTION = "Which groups were proscribed?"
FOLLOW_UP = "When did that happen?"

# ---------------------------------------------------------------- the small corpus

# Two small hand-written articles next to the real story (conftest's `corpus`):
# one .md with full front matter (so its id is its url), one .txt (so its id is
# its path).
ALLOTMENT_URL = "https://example.org/news/allotment-tomato-ban"
ALLOTMENT_MD = """\
---
title: Allotment society bans tomato growing after blight outbreak
published: 2019-06-03
outlet: Rotherham Gazette
url: https://example.org/news/allotment-tomato-ban
---

The Rotherham allotment society has banned tomato growing on all of its plots for one season.

The committee said late blight had spread from three greenhouses to most of the site in May.

Members who break the ban will lose their plot, the society's secretary Margaret Hibbert said.
"""
LIGHTHOUSE_ID = "lighthouse.txt"
LIGHTHOUSE_TXT = """\
Lighthouse keeper rescues stranded kayakers off the Cornish coast

A retired lighthouse keeper rowed out in a storm to rescue two kayakers near Godrevy Point.

The coastguard praised the 71-year-old, who had kept the Godrevy light for twenty years.
"""

# ---------------------------------------------------------------- environment

# Settings a developer's environment could set: tests remove every variable
# with these prefixes so what they see does not depend on the machine.
ENV_PREFIXES = ("STORYBOT_", "OPENAI_", "CHROMA_")

# ---------------------------------------------------------------- fake services

API_KEY = "test-key"  # the OpenAI key the tests' clients send to ScriptedOpenAIServer
MODEL = "gpt-4o-mini"  # the model asked for (BotSettings' default openai_model)

# People and chats in the fake Telegram (user ids are positive, and a private
# chat's id is its user's; group ids are negative).
ANN = 42
ALICE, BOB = 101, 202
GROUP = -1001234567890
