"""Telegram's HTML, parsed the way Telegram parses it: plain text and message entities.

``parse_html`` follows tdlib's parser (same error texts, offsets in UTF-16 code
units), stricter on purpose about a bare ``&`` or ``>``; ``trim`` strips a
text like Telegram does; ``auto_entities`` finds the bot_command and mention
entities Telegram adds to the messages users send.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

__all__ = ["HTMLParseError", "auto_entities", "parse_html", "trim"]


class HTMLParseError(ValueError):
    """Telegram's "can't parse entities" error; the message is what follows that prefix."""


# Supported tags -> entity type (https://core.telegram.org/bots/api#html-style).
_TAG_TYPES = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "span": "spoiler",
    "tg-spoiler": "spoiler",
    "a": "text_link",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
# Strict: a complete entity. Lenient, like tdlib: letters only, ";" optional.
_ENTITY = re.compile(r"&(?:#([0-9]{1,8})|#[xX]([0-9a-fA-F]{1,8})|([a-zA-Z][a-zA-Z0-9]*));")
_LOOSE_ENTITY = re.compile(r"&(?:#([0-9]{1,8})|#[xX]([0-9a-fA-F]{1,8})|([a-zA-Z]+));?")
_SPACES = " \t\r\n\v\f\0"


@dataclass
class _OpenTag:
    tag: str
    start: int  # UTF-16 offset in the plain text
    argument: str = ""
    expandable: bool = False


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _decode_entity(source: str, i: int, strict: bool) -> tuple[str | None, int]:
    """The character the entity at ``source[i]`` ('&') stands for, and where it ends."""
    m = (_ENTITY if strict else _LOOSE_ENTITY).match(source, i)
    if m is None:
        return None, i
    if m[1] or m[2]:
        code = int(m[1], 10) if m[1] else int(m[2], 16)
        if 0xD800 <= code <= 0xDFFF:
            raise HTMLParseError(
                "Text contains invalid Unicode characters after decoding HTML entities, "
                "check for unmatched surrogate code units"
            )
        if code == 0 or code > 0x10FFFF:
            return None, i
        return chr(code), m.end()
    char = _NAMED_ENTITIES.get(m[3])
    return (char, m.end()) if char is not None else (None, i)


def parse_html(source: str, *, strict: bool = True) -> tuple[str, list[dict[str, Any]]]:
    """Parse Telegram-flavoured HTML into plain text and message entities.

    Follows tdlib's parser (same error texts); entity offsets and lengths are in
    UTF-16 code units. With ``strict`` a bare ``&`` or ``>`` is an error too.
    Raises :class:`HTMLParseError`.
    """
    plain: list[str] = []
    units = 0
    stack: list[_OpenTag] = []
    entities: list[dict[str, Any]] = []
    n = len(source)
    i = 0

    def byte_offset(k: int) -> int:
        return len(source[:k].encode("utf-8"))

    def add(text: str) -> None:
        nonlocal units
        plain.append(text)
        units += _utf16_len(text)

    def decode(raw: str, base: int) -> str:
        """Entity-decode an attribute value starting at ``source[base]``."""
        out: list[str] = []
        k = 0
        while k < len(raw):
            if raw[k] != "&":
                out.append(raw[k])
                k += 1
                continue
            char, end = _decode_entity(raw, k, strict)
            if char is None:
                if strict:
                    raise HTMLParseError(
                        f'"&" at byte offset {byte_offset(base + k)} starts no entity: '
                        "write it as &amp; (strict test server)"
                    )
                char, end = "&", k + 1
            out.append(char)
            k = end
        return "".join(out)

    while i < n:
        ch = source[i]
        if ch == "&":
            char, end = _decode_entity(source, i, strict)
            if char is None:
                if strict:
                    raise HTMLParseError(
                        f'"&" at byte offset {byte_offset(i)} starts no entity: write it '
                        "as &amp; (strict test server)"
                    )
                char, end = "&", i + 1
            add(char)
            i = end
            continue
        if ch == ">":
            if strict:
                raise HTMLParseError(
                    f'Unescaped ">" at byte offset {byte_offset(i)}: write it as &gt; '
                    "(strict test server)"
                )
            add(ch)
            i += 1
            continue
        if ch != "<":
            j = i + 1
            while j < n and source[j] not in "<>&":
                j += 1
            add(source[i:j])
            i = j
            continue

        begin = i
        if i + 1 < n and source[i + 1] == "/":  # an end tag
            if not stack:
                raise HTMLParseError(f"Unexpected end tag at byte offset {byte_offset(begin)}")
            close = source.find(">", i + 2)
            if close < 0:
                raise HTMLParseError(f"Unclosed end tag at byte offset {byte_offset(begin)}")
            name = source[i + 2 : close].strip(_SPACES).lower()
            top = stack[-1]
            if name and name != top.tag:
                raise HTMLParseError(
                    f"Unmatched end tag at byte offset {byte_offset(begin)}, "
                    f'expected "</{top.tag}>", found "</{name}>"'
                )
            stack.pop()
            _close_tag(top, units, stack, entities)
            i = close + 1
            continue

        # A start tag.
        i += 1
        j = i
        while j < n and source[j] not in _SPACES and source[j] != ">":
            j += 1
        if j >= n:
            raise HTMLParseError(f"Unclosed start tag at byte offset {byte_offset(begin)}")
        tag = source[i:j].lower()
        if tag not in _TAG_TYPES:
            raise HTMLParseError(
                f'Unsupported start tag "{tag}" at byte offset {byte_offset(begin)}'
            )
        i = j
        argument = ""
        expandable = False
        while True:
            while i < n and source[i] in _SPACES:
                i += 1
            if i >= n:
                raise HTMLParseError(f"Unclosed start tag at byte offset {byte_offset(begin)}")
            if source[i] == ">":
                i += 1
                break
            attr_begin = i
            while i < n and source[i] not in _SPACES and source[i] not in "=>":
                i += 1
            attr = source[attr_begin:i].lower()
            if not attr:
                raise HTMLParseError(
                    f'Empty attribute name in the tag "{tag}" at byte offset {byte_offset(begin)}'
                )
            while i < n and source[i] in _SPACES:
                i += 1
            if i >= n or source[i] != "=":
                if tag == "blockquote" and attr == "expandable":
                    expandable = True
                    continue
                if i >= n:
                    raise HTMLParseError(f"Unclosed start tag at byte offset {byte_offset(begin)}")
                raise HTMLParseError(
                    "Expected equal sign in declaration of an attribute of the tag "
                    f'"{tag}" at byte offset {byte_offset(begin)}'
                )
            i += 1
            while i < n and source[i] in _SPACES:
                i += 1
            if i >= n:
                raise HTMLParseError(
                    f'Unclosed start tag "{tag}" at byte offset {byte_offset(begin)}'
                )
            if source[i] in "\"'":
                end = source.find(source[i], i + 1)
                if end < 0:
                    raise HTMLParseError(f"Unclosed start tag at byte offset {byte_offset(begin)}")
                value = decode(source[i + 1 : end], i + 1)
                i = end + 1
            else:  # a name token: letters, digits, periods, hyphens
                token = i
                while i < n and (
                    (source[i].isascii() and source[i].isalnum()) or source[i] in ".-"
                ):
                    i += 1
                value = source[token:i].lower()
                if i < n and source[i] not in _SPACES and source[i] != ">":
                    raise HTMLParseError(
                        f"Unexpected end of name token at byte offset {byte_offset(token)}"
                    )
            if tag == "a" and attr == "href":
                argument = value
            elif tag == "code" and attr == "class" and value.startswith("language-"):
                argument = value[len("language-") :]
            elif (tag == "span" and attr == "class") or (tag == "tg-emoji" and attr == "emoji-id"):
                argument = value
            elif tag == "blockquote" and attr == "expandable":
                expandable = True
        if tag == "span" and argument != "tg-spoiler":
            raise HTMLParseError(
                f'Tag "span" must have class "tg-spoiler" at byte offset {byte_offset(begin)}'
            )
        if tag == "tg-emoji" and not (argument.isdigit() and int(argument) > 0):
            raise HTMLParseError("Invalid custom emoji identifier specified")
        stack.append(_OpenTag(tag, units, argument, expandable))

    if stack:
        raise HTMLParseError(f'Can\'t find end tag corresponding to start tag "{stack[-1].tag}"')
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return "".join(plain), entities


def _close_tag(
    top: _OpenTag, units: int, stack: list[_OpenTag], entities: list[dict[str, Any]]
) -> None:
    if top.tag == "code" and top.argument and stack and stack[-1].tag == "pre":
        stack[-1].argument = top.argument  # <pre><code class="language-x"> is a pre with x
        return
    length = units - top.start
    if length <= 0:
        return
    entity: dict[str, Any] = {"offset": top.start, "length": length, "type": _TAG_TYPES[top.tag]}
    if top.tag == "a":
        if not top.argument:
            return
        entity["url"] = top.argument
    elif top.tag == "pre" and top.argument:
        entity["language"] = top.argument
    elif top.tag == "tg-emoji":
        entity["custom_emoji_id"] = top.argument
    elif top.tag == "blockquote" and top.expandable:
        entity["type"] = "expandable_blockquote"
    entities.append(entity)


def trim(text: str, entities: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """Strip leading/trailing whitespace like Telegram does, clipping the entities."""
    body = text.strip()
    if body == text:
        return text, entities
    lead = _utf16_len(text[: len(text) - len(text.lstrip())])
    total = _utf16_len(body)
    clipped = []
    for e in entities:
        start = max(e["offset"] - lead, 0)
        end = min(e["offset"] + e["length"] - lead, total)
        if end > start:
            clipped.append({**e, "offset": start, "length": end - start})
    return body, clipped


# Entities Telegram adds to the messages users send.
_COMMAND = re.compile(r"(?<!\S)/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,32})?(?![A-Za-z0-9_@])")
_MENTION = re.compile(r"(?<![\w@/])@[A-Za-z0-9_]{5,32}(?![A-Za-z0-9_])")


def auto_entities(text: str) -> list[dict[str, Any]]:
    found = []
    for pattern, kind in ((_COMMAND, "bot_command"), (_MENTION, "mention")):
        for m in pattern.finditer(text):
            offset = _utf16_len(text[: m.start()])
            found.append({"offset": offset, "length": _utf16_len(m.group()), "type": kind})
    found.sort(key=lambda e: e["offset"])
    return found
