"""Bar charts as inline SVG, drawn on the server: no script, no style attribute, nothing from a CDN (the site's
Content-Security-Policy allows neither inline scripts nor inline styles); the colours are in insights/dashboard.css."""

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

WIDTH, LABEL, ROW, BAR = 640, 180, 22, 14
SPAN = WIDTH - LABEL - 120


def bar_chart(
    *, title: str, bars: list[tuple[str, float, str]], targets: list[float | None] | None = None
) -> SafeString:
    """Horizontal bars, one per ``(label, value, text)``; a ``targets`` entry draws a mark at that value."""
    targets = targets or [None] * len(bars)
    top = max([value for _l, value, _t in bars] + [t for t in targets if t] + [0]) or 1
    rows = format_html_join(
        "",
        '<text x="0" y="{}" class="label">{}</text><rect x="{}" y="{}" width="{}" height="{}" class="bar"></rect>'
        '{}<text x="{}" y="{}" class="value">{}</text>',
        (
            (
                i * ROW + BAR - 2,
                label[:28],
                LABEL,
                i * ROW,
                round(value / top * SPAN, 1),
                BAR,
                _target(i, target, top),
                LABEL + round(value / top * SPAN, 1) + 6,
                i * ROW + BAR - 2,
                text,
            )
            for i, ((label, value, text), target) in enumerate(zip(bars, targets, strict=True))
        ),
    )
    height = max(len(bars), 1) * ROW
    return format_html(
        '<svg class="insights-chart" viewBox="0 0 {} {}" width="{}" height="{}" role="img" aria-label="{}">{}</svg>',
        WIDTH,
        height,
        WIDTH,
        height,
        title,
        rows,
    )


def _target(index: int, target: float | None, top: float) -> SafeString:
    if not target:
        return SafeString("")
    x = LABEL + round(target / top * SPAN, 1)
    return format_html('<rect x="{}" y="{}" width="2" height="{}" class="target"></rect>', x, index * ROW - 2, BAR + 4)
