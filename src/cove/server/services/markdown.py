"""Comments as HTML that cannot act: Markdown rendered by markdown-it-py with raw HTML off.

Raw HTML in a comment (``<script>``, ``<img onerror=...>``) comes out as escaped text, so no element or
event handler of the author's survives; link and image targets go through markdown-it's
``validateLink`` (no ``javascript:``, ``vbscript:``, ``file:`` or ``data:`` except a few image types)
and then :data:`SAFE_TARGET`, which keeps only http(s), mailto and relative targets; links get
``rel="nofollow noopener noreferrer"``. ``@name`` mentions of existing users become links to them.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from markdown_it import MarkdownIt

SAFE_TARGET = re.compile(r"^(?:https?://|mailto:|/(?!/)|#|[^:/?#]*(?:[/?#]|$))", re.IGNORECASE)
MENTION = re.compile(r"(?<![\w@/])@([A-Za-z0-9][A-Za-z0-9_.-]{0,95})")


def _parser() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])


def render(text: str, *, user_exists: Callable[[str], bool] | None = None) -> str:
    """``text`` (Markdown) -> HTML safe to put in a page of the Hub."""
    md = _parser()
    tokens = md.parse(text)
    for token in tokens:
        children = token.children or []
        out = []
        for child in children:
            attr = "src" if child.type == "image" else "href" if child.type == "link_open" else None
            if attr:
                target = str(child.attrGet(attr) or "")
                if not SAFE_TARGET.match(target.strip()):
                    child.attrSet(attr, "#")
                if attr == "href":
                    child.attrSet("rel", "nofollow noopener noreferrer")
            if child.type == "text" and user_exists is not None and "@" in child.content:
                out.extend(_mentions(child, user_exists))
            else:
                out.append(child)
        if token.children is not None:
            token.children = out
    return md.renderer.render(tokens, md.options, {})


def _mentions(token, user_exists: Callable[[str], bool]) -> list:
    """A text token split around ``@name`` mentions of existing users, each one a link to the user."""
    from markdown_it.token import Token

    out, pos = [], 0
    for m in MENTION.finditer(token.content):
        if not user_exists(m.group(1)):
            continue
        if m.start() > pos:
            out.append(Token("text", "", 0, content=token.content[pos:m.start()]))
        link = Token("link_open", "a", 1, attrs={"href": f"/{m.group(1)}", "class": "mention"})
        out += [link, Token("text", "", 0, content=m.group(0)), Token("link_close", "a", -1)]
        pos = m.end()
    if pos == 0:
        return [token]
    if pos < len(token.content):
        out.append(Token("text", "", 0, content=token.content[pos:]))
    return out
