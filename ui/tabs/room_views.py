"""The room tab's Markdown: a round's reveal, the room's tally, the energy totals beside published estimates."""

from generators.room import BUCKET, BUCKETS
from ui.kit.errors import render

DETECTOR_COLUMNS = {"digits": ("discriminator", "classifier"), "text": ("perplexity",)}
WH = 3600.0  # joules in a watt-hour
# Published per-query energy estimates of large models: (what, Wh, source, date). Only figures their publishers
# stated; each is a different method and scope (the sources say which), so they are orders of magnitude, not a race.
PUBLISHED = (
    ("Google Gemini Apps, median text prompt", 0.24,
     "Google, “Measuring the environmental impact of delivering AI at Google scale” (technical paper and blog)",
     "Aug 2025"),
    ("ChatGPT (GPT-4o), typical query", 0.3, "Epoch AI, “How much energy does ChatGPT use?” (J. You)", "Feb 2025"),
    ("ChatGPT, average query", 0.34, "Sam Altman, “The Gentle Singularity” (blog)", "Jun 2025"),
)


def _pct(share: dict | None) -> str:
    return "–" if not share or share.get("accuracy") is None else f"{share['accuracy']:.0%}"


def _family(name: str, lang: str) -> str:
    return render(f"room_family_{name}", {}, lang)


def reveal(result: dict, kind: str, marks: list[bool], lang: str) -> str:
    """Which was which, the person's score and each detector's marks on the same items."""
    yes, no = render("room_said_real", {}, lang), render("room_said_fake", {}, lang)
    cols = DETECTOR_COLUMNS[kind]
    head = ["#", render("room_col_truth", {}, lang), render("room_col_you", {}, lang),
            *(render(f"room_det_{d}", {}, lang) for d in cols)]
    rows = []
    for i, (real, family, mark) in enumerate(zip(result["truth"], result["families"], marks)):
        cells = [str(i + 1), _family(family, lang), ("✓ " if mark == real else "✗ ") + (yes if mark else no)]
        for d in cols:
            m = result["detectors"].get(d, [None] * 8)[i]
            cells.append("–" if m is None else ("✓ " if m == real else "✗ ") + (yes if m else no))
        rows.append(cells)
    machine = {d: sum(m == r for m, r in zip(result["detectors"].get(d, []), result["truth"])) for d in cols}
    text = render("room_score", dict(score=result["score"], n=len(marks)), lang) + " " + " · ".join(
        render("room_machine_score", dict(name=render(f"room_det_{d}", {}, lang), score=s, n=len(marks)), lang)
        for d, s in machine.items())
    seen = "" if result.get("counted", True) else "\n\n" + render("room_not_counted", {}, lang)
    return text + seen + "\n\n" + table(head, rows) + "\n\n" + render(f"room_rule_{kind}", {}, lang)


def table(head: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


def tally(stats: dict, lang: str) -> str:
    """People's accuracy by family beside the detectors', and the last hour in ten-minute steps."""
    if not stats["rounds"]:
        return render("room_no_rounds", {}, lang)
    out = [render("room_rounds", dict(n=stats["rounds"]), lang)]
    for kind, cols in DETECTOR_COLUMNS.items():
        fams = [f for f in stats["families"] if f["kind"] == kind]
        if not fams:
            continue
        head = [render(f"room_kind_{kind}", {}, lang), render("room_col_items", {}, lang),
                render("room_col_people", {}, lang), *(render(f"room_det_{d}", {}, lang) for d in cols)]
        out.append(table(head, [[_family(f["family"], lang), str(f["items"]), _pct(f["human"]),
                                 *(_pct(f[d]) for d in cols)] for f in fams]))
    hour = stats["last_hour"]["buckets"]
    if hour:
        steps = []
        for b in hour:
            ago = BUCKETS - b["bucket"]
            cols = DETECTOR_COLUMNS[b["kind"]]
            steps.append(render("room_hour_step", dict(kind=render(f"room_kind_{b['kind']}", {}, lang),
                                                       lo=(ago - 1) * BUCKET // 60, hi=ago * BUCKET // 60, n=b["items"],
                                                       people=_pct(b["human"]),
                                                       machines=" · ".join(f"{render(f'room_det_{d}', {}, lang)} "
                                                                           f"{_pct(b[d])}" for d in cols)), lang))
        out.append(render("room_hour", {}, lang) + "\n\n" + "\n".join(f"- {s}" for s in steps))
    return "\n\n".join(out)


def energy(stats: dict, lang: str) -> str:
    """The room's receipts summed, beside published per-query figures for large models (with their sources)."""
    e = stats["energy"]
    ours = render("room_energy_totals", dict(n=int(e["receipts"]), wall=f"{e['wall_s']:.1f}", cpu=f"{e['cpu_s']:.1f}",
                                             j=f"{e['joules']:.1f}", wh=f"{e['joules'] / WH:.4f}",
                                             co2=f"{e['co2_g']:.3f}"), lang)
    per = e["joules"] / e["receipts"] if e["receipts"] else 0.0
    head = [render("room_col_what", {}, lang), render("room_col_wh", {}, lang), render("room_col_source", {}, lang)]
    rows = [[render("room_ours_per", {}, lang), f"{per / WH:.5f}", render("room_ours_source", {}, lang)]]
    rows += [[what, f"{wh:g}", f"{source}, {date}"] for what, wh, source, date in PUBLISHED]
    return ours + "\n\n" + table(head, rows) + "\n\n" + render("room_energy_note", {}, lang)
