"""Prompt templates and the story's fixed texts, shipped with the package as data files.

`bot.answering.prompts.Prompts` reads them; `STORYBOT_PROMPTS_DIR` points it at
a maintainer's own copy of this folder instead.
"""
