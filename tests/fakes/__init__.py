"""Fake servers at the protocol boundary, used where no real thing can run here.

The tests run without network access, so the services the bot talks to over
HTTP - the OpenAI API and the Telegram Bot API - are stood in for by local
servers on 127.0.0.1 that speak the same protocol, strictly:

- ``fakes.loopback``: the base, an aiohttp app on its own thread and event loop;
- ``fakes.openai_server``: a scripted OpenAI-compatible chat completions server;
- ``fakes.telegram_server``: a Telegram Bot API server (HTML entities, methods,
  records of what the bot did).

Everything else in the tests is real (Chroma, the embedding model, the bot).
Tests import these as ``fakes.*``: pytest puts ``tests/`` on ``sys.path``, as it
does for ``conftest``. The names cannot shadow the real ``openai`` and
``telegram`` packages.
"""
