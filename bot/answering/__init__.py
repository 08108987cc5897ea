"""The answer engine every front end shares: retrieval, an extractive or LLM reader, memory.

A question and a conversation id go in; an `Answer` with numbered citations of
exact quotes comes out. Nothing here knows about Telegram or the terminal.
"""
