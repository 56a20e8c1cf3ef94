"""Small inline SVG charts rendered on the server: the console needs no chart library."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape

from markupsafe import Markup

PALETTE = ("#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2")
W, H, PAD = 320, 120, 24
MAX_DOTS = 60


def _fmt(value: float) -> str:
    return f"{value:.3g}"


def line_chart(
    title: str, series: Mapping[str, Sequence[tuple[float, float]]], *, unit: str = ""
) -> Markup:
    """Lines (x ascending) on shared axes, with a legend; an empty chart says 'no data'."""
    points = [p for s in series.values() for p in s]
    head = (
        f'<svg class="chart" role="img" aria-label="{escape(title)}" viewBox="0 0 {W} {H + 20}"'
        f' width="{W}" height="{H + 20}" xmlns="http://www.w3.org/2000/svg">'
        f'<text x="4" y="12" class="chart-title">{escape(title)}</text>'
    )
    if not points:
        return Markup(head + f'<text x="{W // 2 - 24}" y="{H // 2}">no data</text></svg>')
    x0, x1 = min(p[0] for p in points), max(p[0] for p in points)
    top = max(p[1] for p in points) or 1.0
    xspan = (x1 - x0) or 1.0
    parts = [head]
    parts.append(
        f'<line x1="{PAD}" y1="{H}" x2="{W - 4}" y2="{H}" stroke="#999"/>'
        f'<text x="{PAD}" y="{H + 14}" font-size="10">max {_fmt(top)}{escape(unit)}</text>'
    )
    for n, (name, pts) in enumerate(series.items()):
        color = PALETTE[n % len(PALETTE)]
        xy = [(PAD + (x - x0) / xspan * (W - PAD - 4), H - y / top * (H - 20)) for x, y in pts]
        coords = " ".join(f"{x:.1f},{y:.1f}" for x, y in xy)
        parts.append(
            f'<polyline fill="none" stroke="{color}" stroke-width="1.5" points="{coords}"/>'
            f'<text x="{W - 90}" y="{14 + 12 * n}" font-size="10" fill="{color}">'
            f"{escape(name)}</text>"
        )
        if len(xy) <= MAX_DOTS:  # a lone point would draw no line at all
            parts.extend(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2" fill="{color}"/>' for x, y in xy)
    parts.append("</svg>")
    return Markup("".join(parts))


def bar_chart(title: str, bars: Sequence[tuple[str, float]], *, unit: str = "") -> Markup:
    """Horizontal bars, one per label, scaled to the largest value."""
    height = 20 + 18 * max(1, len(bars))
    parts = [
        f'<svg class="chart" role="img" aria-label="{escape(title)}" viewBox="0 0 {W} {height}"'
        f' width="{W}" height="{height}" xmlns="http://www.w3.org/2000/svg">'
        f'<text x="4" y="12" class="chart-title">{escape(title)}</text>'
    ]
    if not bars:
        parts.append('<text x="120" y="30">no data</text>')
    top = max((v for _, v in bars), default=1.0) or 1.0
    for n, (label, value) in enumerate(bars):
        y = 18 + 18 * n
        width = value / top * (W - 170)
        parts.append(
            f'<text x="4" y="{y + 11}" font-size="10">{escape(label[:22])}</text>'
            f'<rect x="120" y="{y}" width="{width:.1f}" height="12"'
            f' fill="{PALETTE[n % len(PALETTE)]}"/>'
            f'<text x="{124 + width:.1f}" y="{y + 11}" font-size="10">'
            f"{_fmt(value)}{escape(unit)}</text>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))
