"""The files of an eval run: report.json, report.md and two PNG plots (confusion, recall)."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

PLOTS = {"confusion": "confusion.png", "recall": "recall.png"}


def write_report(report: Mapping[str, Any], out_dir: Path) -> list[Path]:
    """Write report.json (atomically), report.md and the plots; return the paths written."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "report.json"
    tmp = path.with_name("report.json.tmp")
    tmp.write_text(json.dumps(report, ensure_ascii=False, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    written = [path, *write_plots(report, out_dir)]
    md = out_dir / "report.md"
    md.write_text(render_markdown(report), encoding="utf-8")
    return [written[0], md, *written[1:]]


# --------------------------------------------------------------------------- plots


def write_plots(report: Mapping[str, Any], out_dir: Path) -> list[Path]:
    """Confusion-matrix heatmap and per-level recall bars (matplotlib, no pyplot state)."""
    from matplotlib.figure import Figure

    cm = np.asarray(report["confusion"], dtype=int)
    k = cm.shape[0]
    labels = [f"LV.{i}" for i in range(k)]
    n_scored = int(cm.sum())

    fig = Figure(figsize=(5.4, 4.6), dpi=110)
    ax = fig.subplots()
    im = ax.imshow(cm, cmap="Blues", vmin=0)
    ax.set_xticks(range(k), labels)
    ax.set_yticks(range(k), labels)
    ax.set_xlabel("grader level")
    ax.set_ylabel("gold level")
    ax.set_title(f"Confusion (n={n_scored}, QWK {_f(report.get('qwk'), 2)})")
    top = cm.max() or 1
    for i in range(k):
        for j in range(k):
            if cm[i, j]:
                ax.text(j, i, str(cm[i, j]), ha="center", va="center", color="white" if cm[i, j] > top / 2 else "black")
    from matplotlib.ticker import MaxNLocator

    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04).ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    fig.tight_layout()
    confusion_path = out_dir / PLOTS["confusion"]
    fig.savefig(confusion_path)

    per = report["per_level"]
    recall = [per[str(i)]["recall"] for i in range(k)]
    ns = [per[str(i)]["n"] for i in range(k)]
    fig = Figure(figsize=(5.4, 3.6), dpi=110)
    ax = fig.subplots()
    bars = ax.bar(labels, [r or 0.0 for r in recall], color="#4c72b0")
    for bar, r, n in zip(bars, recall, ns):
        ax.text(bar.get_x() + bar.get_width() / 2, (r or 0.0) + 0.02, "n/a" if r is None else f"{r:.2f}\nn={n}", ha="center", va="bottom", fontsize=8)
    ax.set_ylim(0, 1.25)
    ax.set_yticks([0, 0.25, 0.5, 0.75, 1.0])
    ax.set_ylabel("recall")
    ax.set_title(f"Recall per gold level (accuracy {_f(report.get('accuracy'), 2)}, within one {_f(report.get('within_one'), 2)})")
    ax.title.set_fontsize(9)
    fig.tight_layout()
    recall_path = out_dir / PLOTS["recall"]
    fig.savefig(recall_path)
    return [confusion_path, recall_path]


# --------------------------------------------------------------------------- markdown


def _f(x: Any, digits: int = 3) -> str:
    if x is None:
        return "—"
    if isinstance(x, float):
        return f"{x:.{digits}f}"
    return str(x)


def split_figures(x: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """A report's `extra.split_grades`: the figures of the split grades and of the rest ({} if absent)."""
    sg = x.get("split_grades") or {}
    return sg.get("split") or {}, sg.get("rest") or {}


def split_detail(x: Mapping[str, Any]) -> str:
    """'n=20 of 243 graded; the rest 0.752': the grades torn between two far-apart levels."""
    split, rest = split_figures(x)
    n_split = split.get("n_scored", 0)
    return f"n={n_split} of {n_split + rest.get('n_scored', 0)} graded; the rest {_f(rest.get('accuracy'))}"


def evidence_detail(x: Mapping[str, Any]) -> str:
    """'any quote 0.812; 496/612 shown' (extra.evidence): some quote on a gold sentence, and how
    many of the indicators with gold evidence the grades show met or partial."""
    ev = x.get("evidence") or {}
    if not ev:
        return "no gold evidence in the set"
    return f"any quote {_f(ev.get('any_on_gold'))}; {ev.get('n_shown', 0)}/{ev.get('n_gold', 0)} shown"


def _ci(ci: Sequence[float] | None) -> str:
    return "—" if not ci else f"{ci[0]:.3f} – {ci[1]:.3f}"


def _cell(x: Any) -> str:
    text = str(x).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text.replace("|", "\\|").replace("\n", " ").replace("\r", " ")


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return lines


def _ids(items: Sequence[Any], limit: int = 12) -> str:
    shown = ", ".join(_cell(i) for i in items[:limit])
    return shown + (f" … (+{len(items) - limit})" if len(items) > limit else "")


def _groups(title: str, groups: Mapping[str, Mapping[str, Any]], key: str) -> list[str]:
    if not groups:
        return []
    rows = [
        [name, g["n"], g["n_failed"], g["n_scored"], _f(g["accuracy"]), _f(g["within_one"]), _f(g["mae"]), _f(g["qwk"])]
        for name, g in groups.items()
    ]
    return ["", f"## {title}", "", *_table([key, "n", "failed", "scored", "accuracy", "within one", "MAE", "QWK"], rows)]


def render_markdown(report: Mapping[str, Any]) -> str:
    """report.md: agreement, plots, consistency checks, groups, cost, failed items."""
    x = report.get("extra", {})
    run = x.get("run", {})
    eng = run.get("engine", {})
    rub = run.get("rubric", {})
    files = ", ".join(f"`{f}`" for f in run.get("files", []))
    engine = eng.get("name", "?") + (f" ({eng['model']})" if eng.get("model") else "")
    ci = x.get("ci95", {})
    lines = [
        "# Eval report",
        "",
        f"{files} · engine **{engine}** · rubric {rub.get('id', '?')} v{rub.get('version', '?')} · "
        f"repeats {x.get('repeats', 1)} · samples {run.get('samples', 1)} · {run.get('started', '')}",
        "",
        "## Agreement with the gold labels",
        "",
        f"{report['n']} items: {x.get('n_labeled', 0)} labeled, {x.get('n_scored', 0)} scored "
        f"(graded with a level), {report['n_failed']} failed, {x.get('n_insufficient', 0)} labeled items judged "
        f"insufficient evidence (coverage {_f(x.get('coverage'))}).",
        "",
        *_table(
            ["metric", "value", "95% CI (bootstrap)"],
            [
                ["QWK (quadratic weighted kappa)", _f(report["qwk"]), _ci(ci.get("qwk"))],
                ["within one level", _f(report["within_one"]), _ci(ci.get("within_one"))],
                ["exact accuracy", _f(report["accuracy"]), _ci(ci.get("accuracy"))],
                ["mean absolute error", _f(report["mae"]), ""],
                ["Spearman", _f(report["spearman"]), ""],
                ["Krippendorff α, ordinal (gold vs grader)", _f(x.get("alpha_gold")), ""],
            ],
        ),
        "",
        f"![Confusion matrix]({PLOTS['confusion']}) ![Recall per level]({PLOTS['recall']})",
        "",
        "Confusion (rows = gold level, columns = grader level):",
        "",
    ]
    k = len(report["confusion"])
    lines += _table(["gold \\ grader", *[f"LV.{j}" for j in range(k)]], [[f"LV.{i}", *row] for i, row in enumerate(report["confusion"])])
    lines += ["", *_table(["level", "n (gold)", "precision", "recall"], [
        [f"LV.{lv}", v["n"], _f(v["precision"]), _f(v["recall"])] for lv, v in report["per_level"].items()
    ])]

    shift = x.get("injection_shift", {})
    changed = x.get("repeat_changed", [])
    graded_nw = x.get("not_work_graded", [])
    cites = x.get("citations", {})
    quotes = x.get("quotes", {})
    retold = x.get("content_pairs") or {}
    rows = [
        [f"test-retest α, ordinal ({x.get('repeats', 1)} repeats)", _f(report["repeat_alpha"]),
         "needs --repeats 2 or more" if x.get("repeats", 1) < 2 else
         f"identical across repeats: {_f(x.get('repeat_exact'))}" + (f"; changed: {_ids(changed)}" if changed else "")],
        ["pair agreement (all pair ids: translations, paraphrases, injection variants)", _f(report["pair_agreement"]),
         f"{x.get('n_pairs', 0)} pairs" + (f"; graded apart: {_ids(x.get('pairs_split', []))}" if x.get("pairs_split") else "")],
        ["pair agreement, translations and paraphrases only", _f(retold.get("agreement")), f"{retold.get('n', 0)} pairs"],
        ["injection shift, mean / max levels vs gold", f"{_f(shift.get('mean'), 2)} / {_f(shift.get('max'))}",
         f"n={shift.get('n', 0)}, signed mean {_f(shift.get('mean_signed'), 2)}"
         + (f"; moved: {_ids([i['id'] for i in shift.get('items', [])])}" if shift.get("items") else "")],
        ["not-work judged insufficient evidence", _f(x.get("insufficient_rate")),
         f"n={x.get('n_not_work', 0)}" + (f"; given a level: {_ids([g['id'] for g in graded_nw])}" if graded_nw else "")],
        ["accuracy of grades torn between two far-apart levels (the \"split\" warning)",
         _f(split_figures(x)[0].get("accuracy")), split_detail(x)],
        ["evidence: first quote on a gold evidence sentence (items' `gold_evidence`)",
         _f((x.get("evidence") or {}).get("first_on_gold")), evidence_detail(x)],
        ["quote validity (quote == story[start:end])", _f(report["quote_validity"]), f"{quotes.get('valid', 0)}/{quotes.get('total', 0)}"],
        ["citation validity (cited id is indexed)", _f(report["citation_validity"]),
         "not measured" if cites.get("valid") is None else f"{cites['valid']}/{cites.get('total', 0)}"
         + (f"; unknown: {_ids(cites.get('unknown_ids') or [])}" if cites.get("unknown_ids") else "")],
    ]
    lines += ["", "## Consistency", "", *_table(["check", "value", "detail"], rows)]
    lines += _groups("By language", report["by_lang"], "language")
    lines += _groups("By tag", x.get("by_tag", {}), "tag")

    lat, tok = report["latency_ms"], report["tokens"]
    lines += [
        "", "## Cost", "",
        f"Latency per grade p50 {_f(lat.get('p50'), 1)} ms, p95 {_f(lat.get('p95'), 1)} ms; tokens {tok['input']:,} in / "
        f"{tok['output']:,} out" + (f"; cost ${x['cost_usd']:.4f}" if x.get("cost_usd") else "")
        + f"; this invocation graded {run.get('graded_now', 0)} in {_f(run.get('elapsed_s'), 1)} s"
        + (f" (resumed after {run['resumed']})" if run.get("resumed") else "") + ".",
    ]
    failed = x.get("failed", [])
    if failed:
        lines += ["", f"## Failed items ({len(failed)})", "", "Failed items carry no level and are left out of every agreement figure.", ""]
        lines += _table(["id", "repeat", "reason"], [[f["id"], f["repeat"], f["reason"]] for f in failed])
    warnings = run.get("warnings") or []
    if warnings:
        lines += ["", "## Warnings", "", *[f"- {_cell(w)}" for w in warnings]]
    return "\n".join(lines) + "\n"
