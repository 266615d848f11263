from django import template
from django.utils.safestring import SafeString, mark_safe

from common.markdown import markdown_html
from playbooks.engine.readable import learner_reason

register = template.Library()


@register.filter
def markdown(text: str) -> SafeString:
    return mark_safe(markdown_html(text))  # noqa: S308 - markdown_html sanitises with nh3


@register.filter
def readable_reason(reason: dict | None) -> str:
    """The reason in plain words: the page never shows a rule's condition to the learner."""
    return learner_reason(reason)
