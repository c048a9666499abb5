"""The scale view's drawing: one card per model, and bits per byte against parameters on a log scale (an SVG, so it
reads on a phone and needs no plotting library)."""

import html
import math

from ui.kit.errors import render

W, H, PAD = 420, 320, 46  # the SVG's viewBox; it scales to the page's width (fonts stay legible at 390 px)
LOG_X = (6.0, 9.0)  # 1M to 1B parameters
Y = (0.8, 1.8)  # bits per byte shown


def short(n: int | None) -> str:
    """3401856 -> "3.4M"; 494032768 -> "494M"."""
    if not n:
        return "?"
    for unit, size in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= size:
            value = n / size
            return f"{value:.1f}{unit}" if value < 10 else f"{value:.0f}{unit}"
    return str(n)


def name(row: dict, lang: str) -> str:
    return render("inside_ours", {}, lang) if row["model"] == "bundled" else row["model"].split("/")[-1]


def scale_cards(rows: list[dict], lang: str) -> str:
    """One card per model: its size, bits per byte, speed and text (or why it cannot run)."""
    cards = []
    for r in rows:
        facts = [render("inside_params", dict(n=short(r["parameters"])), lang),
                 render("inside_bpb", dict(bpb=f"{r['bits_per_byte']:.2f}"), lang) if r["bits_per_byte"]
                 else render("inside_bpb_missing", {}, lang)]
        if r["tokens_per_s"] is not None:
            key = "inside_speed" if r["available"] else "inside_speed_stored"
            facts.append(render(key, dict(speed=f"{r['tokens_per_s']:.1f}"), lang))
        body = (html.escape(r["text"]) or render("inside_waiting", {}, lang)) if r["available"] \
            else html.escape(render("inside_unavailable", dict(reason=r["reason"]), lang))
        cards.append(f'<div class="inside-card{"" if r["available"] else " inside-off"}" data-model='
                     f'"{html.escape(r["model"])}"><b>{html.escape(name(r, lang))}</b>'
                     f'<p>{html.escape(" · ".join(facts))}</p><p>{body}</p></div>')
    return f'<div class="inside-cards">{"".join(cards)}</div>'


def _xy(params: int, bpb: float) -> tuple[float, float]:
    x = PAD + (math.log10(params) - LOG_X[0]) / (LOG_X[1] - LOG_X[0]) * (W - 2 * PAD)
    y = H - PAD - (min(max(bpb, Y[0]), Y[1]) - Y[0]) / (Y[1] - Y[0]) * (H - 2 * PAD)
    return x, y


def _axes(lang: str) -> list[str]:
    parts = [f'<line x1="{PAD}" y1="{H - PAD}" x2="{W - PAD}" y2="{H - PAD}" stroke="#888"/>',
             f'<line x1="{PAD}" y1="{PAD}" x2="{PAD}" y2="{H - PAD}" stroke="#888"/>']
    for e in range(int(LOG_X[0]), int(LOG_X[1]) + 1):
        x, _ = _xy(10 ** e, Y[0])
        parts.append(f'<text x="{x:.0f}" y="{H - PAD + 16}" text-anchor="middle" font-size="14">'
                     f'{short(10 ** e)}</text>')
    for v in (0.8, 1.0, 1.2, 1.4, 1.6, 1.8):
        _, y = _xy(10 ** LOG_X[0], v)
        parts.append(f'<text x="{PAD - 6}" y="{y + 4:.0f}" text-anchor="end" font-size="14">{v:.1f}</text>')
    parts.append(f'<text x="{W / 2:.0f}" y="{H - 8}" text-anchor="middle" font-size="14">'
                 f'{html.escape(render("inside_plot_x", {}, lang))}</text>')
    parts.append(f'<text x="12" y="{PAD - 16}" font-size="14">{html.escape(render("inside_plot_y", {}, lang))}</text>')
    return parts


def scale_plot(rows: list[dict], lang: str) -> str:
    """Each measured model as a point; between neighbours, the gap in bits per byte and the factor in size.
    Below: the models not on the plot, and what the Hub would add when it cannot be reached."""
    points = sorted((r for r in rows if r["parameters"] and r["bits_per_byte"]), key=lambda r: r["parameters"])
    parts = _axes(lang)
    for a, b in zip(points, points[1:]):
        (x1, y1), (x2, y2) = _xy(a["parameters"], a["bits_per_byte"]), _xy(b["parameters"], b["bits_per_byte"])
        gap = render("inside_plot_gap", dict(bpb=f"{b['bits_per_byte'] - a['bits_per_byte']:+.2f}",
                                             times=f"{b['parameters'] / a['parameters']:.0f}"), lang)
        parts.append(f'<line x1="{x1:.0f}" y1="{y1:.0f}" x2="{x2:.0f}" y2="{y2:.0f}" stroke="#1f77b4" '
                     f'stroke-dasharray="4 3"/><text x="{(x1 + x2) / 2:.0f}" y="{(y1 + y2) / 2 + 24:.0f}" '
                     f'text-anchor="middle" font-size="13">{html.escape(gap)}</text>')
    for r in points:
        x, y = _xy(r["parameters"], r["bits_per_byte"])
        parts.append(f'<circle cx="{x:.0f}" cy="{y:.0f}" r="6" fill="#d62728"/><text x="{x:.0f}" y="{y + 20:.0f}" '
                     f'text-anchor="middle" font-size="14">{html.escape(name(r, lang))} '
                     f'{r["bits_per_byte"]:.2f}</text>')
    notes = []
    missing = [name(r, lang) for r in rows if not r["bits_per_byte"]]
    if missing:
        notes.append(render("inside_plot_missing", dict(models=", ".join(missing)), lang))
    hub = [f"{name(r, lang)} ({short(r['parameters'])})" for r in rows if not r["available"] and "/" in r["model"]]
    if hub:
        notes.append(render("inside_plot_hub", dict(models=", ".join(hub)), lang))
    title = html.escape(render("inside_plot_title", {}, lang))
    svg = (f'<svg viewBox="0 0 {W} {H}" width="100%" role="img" aria-label="{title}" '
           f'style="max-width:{int(W * 1.4)}px">'
           f'{"".join(parts)}</svg>')
    return f'<figure class="inside-plot"><figcaption><b>{title}</b></figcaption>{svg}' \
           f'{"".join(f"<p>{html.escape(n)}</p>" for n in notes)}</figure>'
