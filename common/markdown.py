"""Module bodies are written in Markdown by admins and shown on the learner page: rendered by markdown-it-py
(CommonMark, raw HTML off) and then sanitised by nh3, so a body can never carry script, style or event handlers."""

from functools import lru_cache

import nh3
from markdown_it import MarkdownIt

_PARSER = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable("table")
_TAGS = {
    "p", "br", "hr", "h2", "h3", "h4", "h5", "h6", "strong", "em", "code", "pre", "blockquote",
    "ul", "ol", "li", "a", "table", "thead", "tbody", "tr", "th", "td", "img",
}  # fmt: skip
_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title"},
    "ol": {"start"},
    "th": {"align"},
    "td": {"align"},
}


@lru_cache(maxsize=512)
def markdown_html(text: str) -> str:
    """Safe HTML for ``text``. A heading level 1 becomes level 2: the page's own title is the only h1."""
    rendered = _PARSER.render(text or "").replace("<h1>", "<h2>").replace("</h1>", "</h2>")
    return nh3.clean(
        rendered,
        tags=_TAGS,
        attributes=_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
    )
