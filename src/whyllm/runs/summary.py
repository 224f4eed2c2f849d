"""Global explanations of a dataset run (``whyllm summary store.db``).

* per feature text (case and surrounding punctuation aside), over the dataset and per method: the
  mean value, the mean |value| and the count, overall and, when the dataset has labels, by label;
* per method: how many examples it explained or failed, faithfulness (mean AOPC comprehensiveness
  and sufficiency, when the run evaluated) and stability across methods on the same examples (mean
  Kendall tau of the value rankings with the first method);
* cost totals: target calls, tokens, seconds.

It prints a table and writes JSON and an HTML report with plots (the top features as a bar chart,
and the distribution of AOPC per method) drawn as inline SVG, text escaped.
"""

from __future__ import annotations

import html
import json
import re
from collections import defaultdict
from typing import Any

import numpy as np

from whyllm.runs.store import Store


def feature_key(text: str) -> str:
    core = re.sub(r"^\W+|\W+$", "", text.strip().lower())
    return core or text.strip().lower()


def kendall_tau(a: list[float], b: list[float]) -> float:
    from scipy.stats import kendalltau

    if len(a) < 2:
        return float("nan")
    tau = kendalltau(a, b).statistic
    return float(tau) if tau == tau else float("nan")


def mean_interval(values: list[float]) -> dict[str, float | None]:
    """The standard error of a feature's mean over the examples (their spread holds each
    explanation's own sampling error too) and its 95 % t interval; None for a single example."""
    from scipy import stats

    if len(values) < 2:
        return {"stderr": None, "ci_low": None, "ci_high": None}
    mean, se = float(np.mean(values)), float(np.std(values, ddof=1) / np.sqrt(len(values)))
    t = float(stats.t.ppf(0.975, len(values) - 1))
    return {"stderr": se, "ci_low": mean - t * se, "ci_high": mean + t * se}


def summarize_store(store: Store, top: int = 20) -> dict[str, Any]:
    by_method: dict[str, dict] = defaultdict(lambda: {
        "ok": 0, "failed": 0, "unreadable": 0, "aopc_comp": [], "aopc_suff": [], "calls": 0, "tokens": 0,
        "seconds": 0.0, "certain_top3": [], "stderr": []})
    feats: dict[tuple[str, str, str | None], list[float]] = defaultdict(list)
    values: dict[tuple[str, str], list[float]] = {}
    labels: set[str] = set()
    for row in store.rows():
        m = by_method[row.method]
        if row.status != "ok":
            m["failed"] += 1
            continue
        try:
            exp = row.explanation_dict()
            pairs = list(zip(exp["features"], [float(v) for v in exp["values"]]))
            texts = [f["text"] for f, _ in pairs]
        except (KeyError, TypeError, ValueError):  # a damaged row is counted, not a crash of the summary
            m["unreadable"] += 1
            continue
        m["ok"] += 1
        certain = exp.get("certain_top")
        if isinstance(certain, int):
            sets = (exp.get("uncertainty") or {}).get("top_sets") or []
            m["certain_top3"].append(len(sets) >= 3 and sets[2] >= 0.95)
        m["stderr"].extend(float(v) for v in exp.get("stderr") or () if isinstance(v, (int, float)))
        cost = json.loads(row.cost or "{}")
        m["calls"] += cost.get("sequences", 0)
        m["tokens"] += cost.get("tokens", 0)
        m["seconds"] += row.seconds or 0.0
        if row.faithfulness:  # a row may lack a measure, or hold null where it was not finite
            f = json.loads(row.faithfulness)
            for key, into in (("aopc_comprehensiveness", "aopc_comp"), ("aopc_sufficiency", "aopc_suff")):
                v = f.get(key) if isinstance(f, dict) else None
                if isinstance(v, (int, float)) and np.isfinite(v):
                    m[into].append(float(v))
        values[row.example, row.method] = [v for _, v in pairs]
        if row.label is not None:
            labels.add(row.label)
        for text, (_, v) in zip(texts, pairs):
            for label in (None, row.label) if row.label is not None else (None,):
                feats[row.method, feature_key(text), label].append(v)
    methods = sorted(by_method)
    first = methods[0] if methods else None
    out: dict[str, Any] = {"methods": {}, "features": {}, "labels": sorted(labels)}
    for name in methods:
        m = by_method[name]
        taus = [kendall_tau(values[ex, first], v) for (ex, meth), v in values.items()
                if meth == name and name != first and (ex, first) in values
                and len(values[ex, first]) == len(v)]
        out["methods"][name] = {
            "explained": m["ok"], "failed": m["failed"], "unreadable": m["unreadable"],
            "target_calls": m["calls"], "tokens": m["tokens"],
            "seconds": round(m["seconds"], 3),
            "aopc_comprehensiveness": float(np.mean(m["aopc_comp"])) if m["aopc_comp"] else None,
            "aopc_sufficiency": float(np.mean(m["aopc_suff"])) if m["aopc_suff"] else None,
            "aopc_values": m["aopc_comp"],
            "top3_certain": float(np.mean(m["certain_top3"])) if m["certain_top3"] else None,
            "mean_stderr": float(np.nanmean(m["stderr"])) if m["stderr"] else None,
            "kendall_tau_vs_" + str(first): float(np.nanmean(taus)) if taus else None}
        table = []
        for (meth, key, label), vs in feats.items():
            if meth == name and label is None:
                row = {"feature": key, "mean": float(np.mean(vs)), "mean_abs": float(np.mean(np.abs(vs))),
                       "count": len(vs), **mean_interval(vs)}
                for lab in sorted(labels):
                    got = feats.get((meth, key, lab), [])
                    row[f"mean[{lab}]"] = float(np.mean(got)) if got else None
                    row[f"count[{lab}]"] = len(got)
                table.append(row)
        table.sort(key=lambda r: (-r["mean_abs"] * np.sqrt(r["count"]), r["feature"]))
        out["features"][name] = table[:top]
    out["totals"] = {k: sum(m[k] for m in out["methods"].values()) for k in ("explained", "failed",
                                                                          "target_calls", "tokens")}
    return out


def print_summary(summary: dict[str, Any], console=None, top: int = 10) -> None:
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    t = Table(title="methods")
    for col in ("method", "explained", "failed", "target calls", "AOPC comp.", "AOPC suff.", "top 3 certain"):
        t.add_column(col)
    for name, m in summary["methods"].items():
        fmt = lambda v: "-" if v is None else f"{v:.4f}"  # noqa: E731
        share = m.get("top3_certain")
        t.add_row(name, str(m["explained"]), str(m["failed"]), str(m["target_calls"]),
                  fmt(m["aopc_comprehensiveness"]), fmt(m["aopc_sufficiency"]),
                  "-" if share is None else f"{share:.0%}")
    console.print(t)
    for name, rows in summary["features"].items():
        by_label = " (mean by label on the right)" if summary["labels"] else ""
        t = Table(title=f"top features · {name}{by_label}")
        cols = ["feature", "mean", "±", "mean |value|", "count", *summary["labels"]]
        for col in cols:
            t.add_column(col)
        for r in rows[:top]:
            se = r.get("stderr")
            pm = "-" if se is None else f"{r['ci_high'] - r['mean']:.4f}"
            t.add_row(r["feature"], f"{r['mean']:+.4f}", pm, f"{r['mean_abs']:.4f}", str(r["count"]),
                      *(("-" if r[f"mean[{lab}]"] is None else f"{r[f'mean[{lab}]']:+.4f}")
                        for lab in summary["labels"]))
        console.print(t)


def bar_chart_svg(rows: list[dict], width: int = 520, bar: int = 16) -> str:
    """Horizontal bars of the mean value of each feature (red supports, blue opposes): labels
    right-aligned in their own column, bars either side of a zero line, values after them."""
    if not rows:
        return ""
    peak = max(max(abs(r["mean"]), abs(r.get("ci_low") or 0.0), abs(r.get("ci_high") or 0.0))
               for r in rows) or 1.0
    label_w, plot = 170, width - 70
    mid, half = label_w + plot / 2, plot / 2 - 4
    parts = [f'<svg class="bars" width="{label_w + plot + 70}" height="{bar * len(rows) + 10}" role="img">',
             f'<line x1="{mid:.1f}" y1="2" x2="{mid:.1f}" y2="{bar * len(rows) + 8}" stroke="#999"/>']
    for i, r in enumerate(rows):
        y, w = 5 + i * bar, abs(r["mean"]) / peak * half
        x = mid if r["mean"] >= 0 else mid - w
        color = "#d64525" if r["mean"] >= 0 else "#266ed6"
        parts.append(f'<text x="{label_w - 8}" y="{y + bar - 4}" font-size="12" text-anchor="end">'
                     f'{html.escape(r["feature"][:24])}</text>'
                     f'<rect x="{x:.1f}" y="{y + 2}" width="{w:.1f}" height="{bar - 4}" fill="{color}"/>'
                     + whisker_svg(r, mid, half / peak, y + bar / 2) +
                     f'<text x="{label_w + plot + 8}" y="{y + bar - 4}" font-size="11">'
                     f'{r["mean"]:+.3f}</text>')
    parts.append("</svg>")
    return "".join(parts)


def whisker_svg(row: dict, mid: float, scale: float, y: float) -> str:
    """The 95 % interval of a feature's mean, as a line with end caps (nothing without one)."""
    if row.get("ci_low") is None:
        return ""
    a, b = mid + row["ci_low"] * scale, mid + row["ci_high"] * scale
    return (f'<line class="whisker" x1="{a:.1f}" x2="{b:.1f}" y1="{y:.1f}" y2="{y:.1f}" stroke="#222"/>'
            f'<line x1="{a:.1f}" x2="{a:.1f}" y1="{y - 4:.1f}" y2="{y + 4:.1f}" stroke="#222"/>'
            f'<line x1="{b:.1f}" x2="{b:.1f}" y1="{y - 4:.1f}" y2="{y + 4:.1f}" stroke="#222"/>')


def histogram_svg(values: list[float], width: int = 360, height: int = 90, bins: int = 12) -> str:
    if not values:
        return "<p>no faithfulness in this run (run it with --evaluate)</p>"
    counts, edges = np.histogram(values, bins=bins)
    peak = counts.max() or 1
    w = width / bins
    rects = "".join(f'<rect x="{i * w:.1f}" y="{height - c / peak * (height - 14):.1f}" width="{w - 2:.1f}" '
                    f'height="{c / peak * (height - 14):.1f}" fill="#888"/>' for i, c in enumerate(counts))
    return (f'<svg width="{width}" height="{height + 14}" role="img">{rects}'
            f'<text x="0" y="{height + 12}" font-size="11">{edges[0]:.3f}</text>'
            f'<text x="{width - 40}" y="{height + 12}" font-size="11">{edges[-1]:.3f}</text></svg>')


def summary_html(summary: dict[str, Any], title: str = "whyllm summary") -> str:
    """A self-contained page: the method table, bars of the top features, AOPC histograms."""
    esc = html.escape
    out = [f"<!doctype html><html><head><meta charset='utf-8'><title>{esc(title)}</title>"
           "<style>body{font-family:sans-serif;margin:2em}td,th{padding:2px 8px;text-align:left}"
           "</style></head><body>", f"<h1>{esc(title)}</h1>", "<h2>Methods</h2><table><tr><th>method</th>"
           "<th>explained</th><th>failed</th><th>target calls</th><th>AOPC comp.</th></tr>"]
    for name, m in summary["methods"].items():
        aopc = "-" if m["aopc_comprehensiveness"] is None else f"{m['aopc_comprehensiveness']:.4f}"
        out.append(f"<tr><td>{esc(name)}</td><td>{m['explained']}</td><td>{m['failed']}</td>"
                   f"<td>{m['target_calls']}</td><td>{aopc}</td></tr>")
    out.append("</table>")
    for name, rows in summary["features"].items():
        out += [f"<h2>Top features · {esc(name)}</h2>", bar_chart_svg(rows[:15]),
                f"<h3>AOPC comprehensiveness · {esc(name)}</h3>",
                histogram_svg(summary["methods"][name]["aopc_values"])]
    out.append("</body></html>")
    return "\n".join(out)
