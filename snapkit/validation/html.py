"""The parity report as one self-contained HTML page: no script, no CDN, no fonts to fetch.

One inline SVG per feature (`<svg class="feature-plot">`) overlays the experiment's and
production's distribution: grouped bars of category shares for categorical features,
histogram outlines (density, so unequal union bins do not distort the shape) for numeric
ones. Next to each plot: the measured drift, its threshold and the verdict; above them,
every check of the report with what it measured.
"""

from __future__ import annotations

from html import escape
from itertools import pairwise
from typing import TYPE_CHECKING

from snapkit.validation.parity_output import checks

if TYPE_CHECKING:
    from snapkit.validation.drift import ColumnDrift, Distribution
    from snapkit.validation.parity import ParityReport, StepParity

WIDTH, HEIGHT = 480, 240
LEFT, RIGHT, TOP, BOTTOM = 60, 24, 14, 62
EXPERIMENT, PRODUCTION = "#1f77b4", "#ff7f0e"

STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 24px; color: #222; background: #fff; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 18px; margin: 28px 0 8px; }
.verdict { display: inline-block; padding: 2px 10px; border-radius: 4px; color: #fff;
  font-weight: 600; }
.pass { background: #2e7d32; } .fail { background: #c62828; } .skip { background: #777; }
table { border-collapse: collapse; margin: 6px 0 12px; }
td, th { border: 1px solid #ddd; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #f4f4f4; }
.grid { display: flex; flex-wrap: wrap; gap: 14px; }
.card { border: 1px solid #ddd; border-radius: 6px; padding: 8px 10px; width: 490px; }
.card h3 { font-size: 15px; margin: 0 0 2px; }
.measure { color: #444; margin-bottom: 4px; }
.legend span { display: inline-block; width: 12px; height: 12px; margin: 0 4px 0 10px;
  vertical-align: middle; }
pre { background: #f7f7f7; padding: 6px; overflow-x: auto; font-size: 12px; }
svg text { font: 11px system-ui, sans-serif; fill: #333; }
"""


def render_html(report: ParityReport) -> str:
    verdict = "pass" if report.passed else "fail"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>snap parity: {verdict}</title><style>{STYLE}</style></head><body>",
        f'<h1>Parity <span class="verdict {verdict}">{verdict.upper()}</span></h1>',
        f"<p>Experiment run <code>{escape(report.experiment)}</code> vs production run "
        f"<code>{escape(report.production)}</code>; replay joined on "
        f"<code>{escape(report.key)}</code> over a sample of {report.sample} keys.</p>",
        '<p class="legend">Plots:<span style="background:' + EXPERIMENT + '"></span>experiment'
        '<span style="background:' + PRODUCTION + '"></span>production</p>',
    ]
    for step in report.steps:
        parts += _step(report, step)
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _step(report: ParityReport, step: StepParity) -> list[str]:
    verdict = "pass" if step.passed else "fail"
    out = [
        f'<h2>Step {escape(step.step)} <span class="verdict {verdict}">{verdict}</span></h2>',
        "<table><tr><th>check</th><th>verdict</th><th>measured</th></tr>",
    ]
    for c in checks(report):
        if c.step == step.step:
            css = "skip" if c.skipped else "pass" if c.passed else "fail"
            out.append(
                f"<tr><td>{escape(c.name)}</td><td><span class='verdict {css}'>{c.verdict}"
                f"</span></td><td>{escape(c.measured)}</td></tr>"
            )
    out.append("</table>")
    out += _fingerprint_details(step)
    out += _skew_examples(step)
    out.append("<h3>Feature distributions</h3>")
    out.append('<div class="grid">')
    out += [_card(d) for d in step.drift]
    out.append("</div>")
    return out


def _fingerprint_details(step: StepParity) -> list[str]:
    lines = [line for d in step.fingerprint.failures for line in (d.describe(), *d.detail)]
    return (
        [f"<h3>Fingerprint differences</h3><pre>{escape(chr(10).join(lines))}</pre>"]
        if lines
        else []
    )


def _skew_examples(step: StepParity) -> list[str]:
    bad = [c for c in step.replay.columns if not c.passed and c.examples]
    if not bad:
        return []
    out = ["<h3>Feature skew: example rows</h3><table>"]
    out.append(
        "<tr><th>feature</th><th>key</th><th>experiment (replayed)</th><th>production</th></tr>"
    )
    for c in bad:
        for x in c.examples:
            out.append(
                f"<tr><td>{escape(c.column)}</td><td>{escape(str(x['key']))}</td>"
                f"<td>{escape(repr(x['experiment']))}</td><td>{escape(repr(x['production']))}</td></tr>"
            )
    out.append("</table>")
    return out


def _card(d: ColumnDrift) -> str:
    css = "pass" if d.passed else "fail"
    value = "not measured" if d.value is None else f"{d.metric} = {d.value:.4f}"
    plot = (
        _plot(d)
        if d.distribution is not None
        else f'<svg class="feature-plot" width="{WIDTH}" height="40"><text x="8" y="24">'
        f"{escape(d.note)}</text></svg>"
    )
    return (
        f'<div class="card"><h3>{escape(d.column)} <span class="verdict {css}">'
        f"{'pass' if d.passed else 'fail'}</span></h3>"
        f'<div class="measure">{escape(d.kind)}: {value} (threshold {d.threshold:g}); '
        f"rows {d.experiment_rows} vs {d.production_rows}</div>{plot}</div>"
    )


def _plot(d: ColumnDrift) -> str:
    assert d.distribution is not None
    body = _bars(d.distribution) if d.kind == "categorical" else _outlines(d.distribution)
    title = f"{d.column}: experiment vs production"
    return (
        f'<svg class="feature-plot" data-column="{escape(d.column)}" '
        'xmlns="http://www.w3.org/2000/svg" '
        f'width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img">'
        f"<title>{escape(title)}</title>{body}</svg>"
    )


def _frame(top: float, x_labels: list[tuple[float, str, bool]], y_title: str) -> list[str]:
    """Axes, y ticks at 0, half and top, the y title and the x labels (rotated when `True`)."""
    x0, y0, x1 = LEFT, HEIGHT - BOTTOM, WIDTH - RIGHT
    out = [
        f'<text transform="translate(12,{(TOP + y0) / 2:.0f}) rotate(-90)" '
        f'text-anchor="middle">{y_title}</text>',
        f'<line x1="{x0}" y1="{y0}" x2="{x1}" y2="{y0}" stroke="#888"/>',
        f'<line x1="{x0}" y1="{TOP}" x2="{x0}" y2="{y0}" stroke="#888"/>',
    ]
    for frac in (0.0, 0.5, 1.0):
        y = y0 - frac * (y0 - TOP)
        out.append(f'<text x="{x0 - 4}" y="{y + 4:.1f}" text-anchor="end">{top * frac:.3g}</text>')
        if frac:
            out.append(f'<line x1="{x0}" y1="{y:.1f}" x2="{x1}" y2="{y:.1f}" stroke="#eee"/>')
    for x, label, rotate in x_labels:
        if rotate:
            out.append(
                f'<text transform="translate({x:.1f},{y0 + 10}) rotate(-40)" text-anchor="end">'
                f"{escape(label[:18])}</text>"
            )
        else:
            out.append(
                f'<text x="{x:.1f}" y="{y0 + 16}" text-anchor="middle">{escape(label)}</text>'
            )
    return out


def _bars(dist: Distribution) -> str:
    """Grouped bars: each category's share in the experiment and in production."""
    labels = list(dist.labels)
    e, p = list(dist.experiment), list(dist.production)
    if dist.experiment_null or dist.production_null:
        labels.append("(null)")
        e.append(dist.experiment_null)
        p.append(dist.production_null)
    top = max([*e, *p, 1e-9]) * 1.1
    slot = (WIDTH - LEFT - RIGHT) / max(len(labels), 1)
    bar = max(slot * 0.38, 1.0)
    y0, span = HEIGHT - BOTTOM, HEIGHT - BOTTOM - TOP
    out = []
    for i, (a, b) in enumerate(zip(e, p, strict=True)):
        x = LEFT + i * slot + slot * 0.1
        for offset, share, color in ((0.0, a, EXPERIMENT), (bar, b, PRODUCTION)):
            h = share / top * span
            out.append(
                f'<rect x="{x + offset:.1f}" y="{y0 - h:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                f'fill="{color}"><title>{escape(labels[i])}: {share:.4f}</title></rect>'
            )
    ticks = [(LEFT + (i + 0.5) * slot, label, True) for i, label in enumerate(labels)]
    return "".join(_frame(top, ticks, "share of rows") + out)


def _outlines(dist: Distribution) -> str:
    """Histogram outlines of density (share / bin width), one per side."""
    edges, sides = _merge_slivers(list(dist.edges), [list(dist.experiment), list(dist.production)])
    widths = [max(b - a, 1e-12) for a, b in pairwise(edges)]
    dens = [[v / w for v, w in zip(side, widths, strict=True)] for side in sides]
    top = max([v for side in dens for v in side] + [1e-12]) * 1.1
    lo, hi = edges[0], edges[-1]
    scale = (WIDTH - LEFT - RIGHT) / ((hi - lo) or 1.0)
    y0, span = HEIGHT - BOTTOM, HEIGHT - BOTTOM - TOP

    def x(v: float) -> float:
        return LEFT + (v - lo) * scale

    out = []
    for side, color, dash in (
        (dens[0], EXPERIMENT, ""),
        (dens[1], PRODUCTION, ' stroke-dasharray="5,3"'),
    ):
        points = [f"{x(lo):.1f},{y0}"]
        for (a, b), v in zip(pairwise(edges), side, strict=True):
            y = y0 - v / top * span
            points += [f"{x(a):.1f},{y:.1f}", f"{x(b):.1f},{y:.1f}"]
        points.append(f"{x(hi):.1f},{y0}")
        out.append(
            f'<polyline points="{" ".join(points)}" fill="none" stroke="{color}" '
            f'stroke-width="2"{dash}/>'
        )
    ticks = [
        (x(lo + (hi - lo) * f), f"{lo + (hi - lo) * f:.3g}", False) for f in (0, 0.25, 0.5, 0.75, 1)
    ]
    note = ""
    if dist.experiment_null or dist.production_null:
        note = (
            f'<text x="{WIDTH - RIGHT}" y="{TOP + 10}" text-anchor="end">null/non-finite: '
            f"{dist.experiment_null:.3f} vs {dist.production_null:.3f}</text>"
        )
    return "".join(_frame(top, ticks, "density") + out) + note


def _merge_slivers(
    edges: list[float], sides: list[list[float]]
) -> tuple[list[float], list[list[float]]]:
    """Union edges leave slivers where the two sides' edges nearly meet; as densities they
    would spike. For the plot only, a bin under a quarter of the mean width joins its
    left neighbour (its shares are added, nothing is lost)."""
    if len(edges) < 3:
        return edges, sides
    least = (edges[-1] - edges[0]) / (len(edges) - 1) / 4
    kept, merged = [edges[0]], [[side[0]] for side in sides]
    for i in range(1, len(edges) - 1):
        if edges[i + 1] - edges[i] < least or edges[i] - kept[-1] < least:
            for m, side in zip(merged, sides, strict=True):
                m[-1] += side[i]
        else:
            kept.append(edges[i])
            for m, side in zip(merged, sides, strict=True):
                m.append(side[i])
    kept.append(edges[-1])
    return kept, merged
