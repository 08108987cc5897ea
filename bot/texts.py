"""What the bot says besides answers, shared by every front end."""

HELP = """Ask me a question about the story and I answer with the passages that prove it, \
each marked [1], [2]…
Follow-up questions work: "When did that happen?" refers to what was asked before.

Commands:
/sources – the articles I know
/reset – forget this conversation
/help – this message"""

RESET = "I've forgotten this conversation. Ask me anything about the story."
NO_SOURCES = "No articles are indexed yet."
EMPTY_QUESTION = "Please ask a question."
UNKNOWN_COMMAND = "I don't know that command. /help lists the ones I do."


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
