"""Small server-rendered SVG charts: no JavaScript, no build step, and each one
carries its own title and a data table beside it for screen readers."""

from __future__ import annotations

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe


def bar_chart(
    items: list[tuple[str, float]],
    *,
    title: str,
    unit: str = "",
    target: float | None = None,
    width: int = 320,
    bar_height: int = 26,
) -> SafeString:
    """Horizontal bars, labels on the left, values at the end; a dashed target line."""
    label_w = 96
    top = max([v for _label, v in items] + ([target] if target else []) + [1.0])
    height = bar_height * max(len(items), 1) + 8
    span = width - label_w - 56
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" viewBox="0 0 {width} {height}" '
        f'width="100%" aria-labelledby="t-{abs(hash(title))}" class="chart">',
        f'<title id="t-{abs(hash(title))}">{escape(title)}</title>',
    ]
    for i, (label, value) in enumerate(items):
        y = 4 + i * bar_height
        w = 0 if top == 0 else round(span * value / top)
        parts.append(
            f'<text x="{label_w - 6}" y="{y + bar_height * 0.65:.0f}" text-anchor="end" '
            f'font-size="13" fill="#1a1a1a">{escape(label)}</text>'
        )
        parts.append(
            f'<rect x="{label_w}" y="{y + 3}" width="{w}" height="{bar_height - 8}" fill="#0b5394" rx="3"/>'
        )
        parts.append(
            f'<text x="{label_w + w + 4}" y="{y + bar_height * 0.65:.0f}" font-size="13" '
            f'fill="#1a1a1a">{value:g}{escape(unit)}</text>'
        )
    if target:
        x = label_w + round(span * target / top)
        parts.append(
            f'<line x1="{x}" y1="0" x2="{x}" y2="{height}" stroke="#a50e0e" stroke-width="2" '
            f'stroke-dasharray="4 3"/>'
        )
    parts.append("</svg>")
    # Every interpolated string is escaped above.
    return mark_safe("".join(parts))  # noqa: S308
