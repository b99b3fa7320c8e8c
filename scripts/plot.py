#!/usr/bin/env python3
"""Plot and tabulate scripts/bench.sh results (python3 standard library only).

Usage: scripts/plot.py [RESULTS_JSON] [OUT_SVG]
       (defaults: target/bench/results.json, docs/bench.svg)

Writes an SVG with three panels against N (viewers): server CPU per viewer (% of one core),
packet loss (%), and added latency p99 (ms), one line per server; prints a markdown table of
every run plus, per server, the largest N held below 1 % loss.
"""

import json
import math
import sys
from html import escape

LABELS = {"ours": "kurento-media-server (Rust)", "janus": "Janus 1.1 VideoRoom",
          "before": "kurento-media-server, previous build"}
COLORS = {"ours": "#1f77b4", "janus": "#d62728", "before": "#7f7f7f"}
FALLBACK_COLORS = ["#2ca02c", "#9467bd", "#8c564b"]
LOSS_LIMIT = 1.0


def load(path):
    with open(path) as f:
        data = json.load(f)
    series = {}
    for run in data.get("runs", []):
        series.setdefault(run["server"], []).append((run["n"], run["report"]))
    for runs in series.values():
        runs.sort(key=lambda r: r[0])
    return data.get("meta", {}), series


def cpu_avg(rep):
    s = rep.get("server") or {}
    return s.get("cpu_avg_pct")


def cpu_per_viewer(n, rep):
    c = cpu_avg(rep)
    return None if c is None or n == 0 else c / n


def metrics(n, rep):
    return {
        "cpu": cpu_per_viewer(n, rep),
        "loss": rep.get("packet_loss_pct"),
        "p99": (rep.get("latency_ms") or {}).get("p99"),
    }


def nice_ticks(vmax, count=5):
    """Round tick values from 0 to at least vmax."""
    if vmax is None or vmax <= 0:
        vmax = 1.0
    raw = vmax / count
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    ticks = []
    v = 0.0
    while v < vmax + step * 0.999:
        ticks.append(round(v, 10))
        v += step
    return ticks


def fmt_tick(v):
    if v == 0:
        return "0"
    if abs(v) >= 10:
        return f"{v:.0f}"
    if abs(v) >= 1:
        return f"{v:g}"
    return f"{v:.3g}"


def dash(i):
    """Series after the first are dashed, so coinciding lines (e.g. both at 0 % loss) stay visible."""
    return "" if i == 0 else ' stroke-dasharray="6 4"'


def marker(i, x, y, color):
    if i == 0:
        return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="{color}"/>'
    return f'<rect x="{x - 3.5:.1f}" y="{y - 3.5:.1f}" width="7" height="7" fill="none" stroke="{color}" stroke-width="1.5"/>'


def panel(x0, y0, w, h, title, ylabel, key, series, ns, limit_line=None):
    """One chart; x is log-scaled over the N values measured."""
    out = []
    left, right, top, bottom = 58, 12, 28, 44
    pw, ph = w - left - right, h - top - bottom
    ox, oy = x0 + left, y0 + top
    values = [m[key] for runs in series.values() for (_, m) in runs if m[key] is not None]
    vmax = max(values + ([limit_line * 1.2] if limit_line else []), default=1.0)
    ticks = nice_ticks(vmax)
    ymax = ticks[-1]
    lo, hi = math.log(min(ns)), math.log(max(ns))
    span = hi - lo or 1.0

    def px(n):
        if len(ns) == 1:
            return ox + pw / 2
        # Inset, so the end points do not sit on the frame.
        return ox + pw * (0.06 + 0.88 * (math.log(n) - lo) / span)

    def py(v):
        return oy + ph - (v / ymax) * ph

    out.append(f'<text x="{x0 + w / 2:.1f}" y="{y0 + 16}" text-anchor="middle" '
               f'font-weight="bold">{escape(title)}</text>')
    for t in ticks:
        y = py(t)
        out.append(f'<line x1="{ox}" y1="{y:.1f}" x2="{ox + pw}" y2="{y:.1f}" stroke="#e5e5e5"/>')
        out.append(f'<text x="{ox - 6}" y="{y + 4:.1f}" text-anchor="end">{fmt_tick(t)}</text>')
    last_label = None
    for n in ns:
        x = px(n)
        out.append(f'<line x1="{x:.1f}" y1="{oy + ph}" x2="{x:.1f}" y2="{oy + ph + 4}" stroke="#333"/>')
        # On a log axis the large N crowd together: label only those with room for their text.
        if last_label is None or x - last_label >= 10 * len(str(n)):
            out.append(f'<text x="{x:.1f}" y="{oy + ph + 17}" text-anchor="middle">{n}</text>')
            last_label = x
    out.append(f'<rect x="{ox}" y="{oy}" width="{pw}" height="{ph}" fill="none" stroke="#333"/>')
    out.append(f'<text x="{ox + pw / 2:.1f}" y="{oy + ph + 36}" text-anchor="middle">'
               f'viewers N (log scale)</text>')
    out.append(f'<text transform="translate({x0 + 14},{oy + ph / 2:.1f}) rotate(-90)" '
               f'text-anchor="middle">{escape(ylabel)}</text>')
    if limit_line is not None and limit_line <= ymax:
        y = py(limit_line)
        out.append(f'<line x1="{ox}" y1="{y:.1f}" x2="{ox + pw}" y2="{y:.1f}" stroke="#888" '
                   f'stroke-dasharray="4 3"/>')
        out.append(f'<text x="{ox + pw - 4}" y="{y - 4:.1f}" text-anchor="end" fill="#666">'
                   f'{fmt_tick(limit_line)} %</text>')
    for i, (server, runs) in enumerate(series.items()):
        color = COLORS.get(server, FALLBACK_COLORS[i % len(FALLBACK_COLORS)])
        pts = [(px(n), py(m[key])) for (n, m) in runs if m[key] is not None]
        if len(pts) > 1:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in pts)
            out.append(f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="2"'
                       f'{dash(i)}/>')
        for x, y in pts:
            out.append(marker(i, x, y, color))
    return out


def svg(series, meta):
    pw, ph = 330, 260
    width, height = pw * 3, ph + 60
    ns = sorted({n for runs in series.values() for (n, _) in runs}) or [1]
    ms = {s: [(n, metrics(n, rep)) for (n, rep) in runs] for s, runs in series.items()}
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
    ]
    parts += panel(0, 0, pw, ph, "Server CPU per viewer", "% of one core per viewer", "cpu", ms, ns)
    parts += panel(pw, 0, pw, ph, "Packet loss at the viewers", "loss (%)", "loss", ms, ns,
                   limit_line=LOSS_LIMIT)
    parts += panel(2 * pw, 0, pw, ph, "Added latency, p99", "p99 latency (ms)", "p99", ms, ns)
    # Legend under the panels.
    x = 60
    y = ph + 20
    for i, server in enumerate(series):
        color = COLORS.get(server, FALLBACK_COLORS[i % len(FALLBACK_COLORS)])
        label = LABELS.get(server, server)
        parts.append(f'<line x1="{x}" y1="{y}" x2="{x + 24}" y2="{y}" stroke="{color}" '
                     f'stroke-width="2"{dash(i)}/>')
        parts.append(marker(i, x + 12, y, color))
        parts.append(f'<text x="{x + 30}" y="{y + 4}">{escape(label)}</text>')
        x += 40 + 7 * len(label)
    note = "1 presenter (1.5 Mbps VP8 + Opus) to N viewers; server on one core, generator on the other"
    if meta.get("date"):
        note += f"; {meta['date']}"
    parts.append(f'<text x="60" y="{ph + 44}" fill="#555">{escape(note)}</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def opt(v, f="{:.1f}"):
    return "-" if v is None else f.format(v)


def table(series):
    rows = [
        "| N | server | connected | packets/s | loss % | frames decodable % | latency p50 / p99 ms "
        "| late joiner join→keyframe ms | server CPU avg % of a core | CPU per viewer % | RSS max MB |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    flat = sorted(((n, s, rep) for s, runs in series.items() for (n, rep) in runs),
                  key=lambda r: (r[0], list(series).index(r[1])))
    for n, s, rep in flat:
        lat = rep.get("latency_ms") or {}
        late = (rep.get("late_joiners") or {}).get("join_to_first_keyframe_ms") or []
        late = ", ".join(opt(v, "{:.0f}") for v in late) or "-"
        srv = rep.get("server") or {}
        rows.append(
            f"| {n} | {LABELS.get(s, s)} | {rep.get('viewers_connected')}/{n} "
            f"| {opt(rep.get('packets_per_s'), '{:.0f}')} | {opt(rep.get('packet_loss_pct'), '{:.3f}')} "
            f"| {opt(rep.get('frames_decodable_pct'))} | {opt(lat.get('p50'))} / {opt(lat.get('p99'))} "
            f"| {late} | {opt(srv.get('cpu_avg_pct'))} | {opt(cpu_per_viewer(n, rep), '{:.3f}')} "
            f"| {opt(srv.get('rss_max_mb'), '{:.0f}')} |")
    rows.append("")
    for s, runs in series.items():
        held = [n for (n, rep) in runs
                if rep.get("packet_loss_pct", 100) < LOSS_LIMIT and rep.get("viewers_connected") == n]
        tried = [n for (n, _) in runs]
        best = max(held) if held else None
        rows.append(f"- {LABELS.get(s, s)}: largest N below {LOSS_LIMIT:g} % loss: "
                    f"{best if best is not None else 'none'} (tried {', '.join(map(str, tried))})")
    ours = dict(series.get("ours", []))
    janus = dict(series.get("janus", []))
    for n in sorted(set(ours) & set(janus)):
        a, b = cpu_avg(ours[n]), cpu_avg(janus[n])
        if a and b:
            rows.append(f"- N = {n}: Janus used {b / a:.2f}× the CPU of kurento-media-server")
    return "\n".join(rows) + "\n"


def main(argv):
    results = argv[1] if len(argv) > 1 else "target/bench/results.json"
    out = argv[2] if len(argv) > 2 else "docs/bench.svg"
    meta, series = load(results)
    if not series:
        print(f"{results}: no runs", file=sys.stderr)
        return 1
    with open(out, "w") as f:
        f.write(svg(series, meta))
    sys.stdout.write(table(series))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
