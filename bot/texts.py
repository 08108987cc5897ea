"""What the bot says besides answers, shared by every front end."""

HELP = """Ask me a question about the story and I answer with the passages that prove it, \
each marked [1], [2]…
Follow-up questions work: "When did that happen?" refers to what was asked before.

Commands:
/sources – the articles I know
/reset – forget this conversation
/help – this message"""

TELEGRAM_HELP = (
    HELP
    + """
/ask QUESTION – ask in a group

In a group, mention me (@name) with your question, reply to one of my answers, or use /ask. \
I ignore everything else, so I work with Telegram's privacy mode on. Replying to one of my \
answers continues that conversation, whoever replies."""
)

NOT_ALLOWED = "Sorry, this bot is private and doesn't answer in this chat."
APOLOGY = "Sorry, something went wrong while answering. Please try again in a moment."
FEEDBACK_THANKS = "Thanks for the feedback!"
FEEDBACK_UNKNOWN = "That answer is too old to rate."

RESET = "I've forgotten this conversation. Ask me anything about the story."
NO_SOURCES = "No articles are indexed yet."
EMPTY_QUESTION = "Please ask a question."
NOT_UTF8 = "I can't read that line: it is not UTF-8 text. Please type the question again."
UNKNOWN_COMMAND = "I don't know that command. /help lists the ones I do."


def greeting(examples: list[str]) -> str:
    """/start: what the bot does, with the story's example questions (prompts/examples.txt)."""
    tries = "".join(f"\n• {q}" for q in examples)
    return (
        "Hello! I answer questions about the news story I have read, and show the passages "
        f"that prove each answer.{' Try:' if tries else ''}{tries}\n\n/help explains more."
    )


def ask_usage(examples: list[str]) -> str:
    """A bare /ask: how to ask, with the story's first example question."""
    return f"Ask like this: /ask {examples[0] if examples else 'your question'}"


def too_long(limit: int) -> str:
    return f"That question is too long for me: please keep it under {limit} characters."


def slow_down(seconds: float) -> str:
    return (
        f"You're asking faster than I can keep up. Please try again in {max(1, round(seconds))} s."
    )


def sources_text(articles: list[dict[str, str]]) -> str:
    """The /sources listing: one line per article with its date and link."""
    if not articles:
        return NO_SOURCES
    lines = []
    for i, article in enumerate(articles, 1):
        line = f"{i}. {article['title']}"
        if article.get("published"):
            line += f" ({article['published']})"
        if article.get("url"):
            line += f" {article['url']}"
        lines.append(line)
    return "\n".join(lines)
