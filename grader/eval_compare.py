"""Compare two eval runs: metric deltas with a paired bootstrap, and the items whose level changed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from grader import metrics as m
from grader.errors import BadInputError

PAIRED = {
    "qwk": (m.qwk_batch, m.qwk),
    "within_one": (m.within_one_batch, m.within_one),
    "accuracy": (m.accuracy_batch, m.accuracy),
    "mae": (m.mae_batch, m.mae),  # lower is better
}
UNPAIRED = ("spearman", "pair_agreement", "repeat_alpha", "quote_validity", "citation_validity", "n", "n_failed")

Outcome = tuple[int | None, int | None, str]  # gold, level, status


def read_report(run_dir: Path) -> dict[str, Any]:
    """The report.json of a `grader eval` output folder. Raises BadInputError."""
    run_dir = Path(run_dir)
    report_path = run_dir / "report.json"
    if not report_path.is_file():
        raise BadInputError(f"{run_dir}: no report.json: run `grader eval FILE --out {run_dir}` first")
    try:
        report = json.loads(report_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BadInputError(f"{report_path}: not a readable report ({exc}): run the eval again") from None
    if not isinstance(report, dict):
        raise BadInputError(f"{report_path}: not a readable report (not a JSON object): run the eval again")
    return report


def _read_run(run_dir: Path) -> tuple[dict[str, Any], dict[str, Outcome]]:
    run_dir = Path(run_dir)
    report = read_report(run_dir)
    preds: dict[str, Outcome] = {}
    path = run_dir / "predictions.jsonl"
    if path.is_file():
        with path.open("rb") as f:
            for raw in f:
                try:
                    d = json.loads(raw)
                    preds.setdefault(str(d["id"]), (d.get("gold_level"), d.get("level"), str(d["status"])))
                except (ValueError, KeyError, TypeError):
                    continue  # an incomplete line of an interrupted run
    return report, preds


def _label(level: int | None, status: str) -> int | str:
    return level if level is not None else status


def compare_runs(dir_a: Path, dir_b: Path, *, n_resamples: int = 1000, seed: int = 0) -> dict:
    """Deltas b - a. For qwk, within_one, accuracy and mae the delta is also computed on the
    items both runs scored, with a paired bootstrap 95% interval (`significant` when it
    excludes 0). `changed` lists the items whose level or status differs."""
    report_a, preds_a = _read_run(dir_a)
    report_b, preds_b = _read_run(dir_b)
    common = [i for i in preds_a if i in preds_b]
    both = [
        (preds_a[i][0], preds_a[i][1], preds_b[i][1])
        for i in common
        if preds_a[i][0] is not None and preds_a[i][1] is not None and preds_b[i][1] is not None
    ]
    gold = [g for g, _, _ in both]
    a = [x for _, x, _ in both]
    b = [y for _, _, y in both]
    out_metrics: dict[str, Any] = {}
    for name, (batch, point) in PAIRED.items():
        va, vb = report_a.get(name), report_b.get(name)
        paired = m.paired_bootstrap(batch, gold, a, b, n_resamples=n_resamples, seed=seed)
        ci = paired["ci95"]
        out_metrics[name] = {
            "a": va, "b": vb, "delta": None if va is None or vb is None else round(vb - va, 4),
            "paired": {
                "n": len(gold), "a": point(gold, a), "b": point(gold, b), "delta": paired["delta"], "ci95": ci,
                "significant": None if ci is None else bool(ci[0] > 0 or ci[1] < 0),
            },
        }
    for name in UNPAIRED:
        va, vb = report_a.get(name), report_b.get(name)
        out_metrics[name] = {"a": va, "b": vb, "delta": None if va is None or vb is None else round(vb - va, 4)}

    changed: list[dict[str, Any]] = []
    for i in common:
        gold_a, level_a, status_a = preds_a[i]
        _, level_b, status_b = preds_b[i]
        if _label(level_a, status_a) == _label(level_b, status_b):
            continue
        direction = None
        if gold_a is not None and level_a is not None and level_b is not None:
            da, db = abs(level_a - gold_a), abs(level_b - gold_a)
            direction = "closer" if db < da else "further" if db > da else "same distance"
        changed.append({
            "id": i, "gold_level": gold_a, "a_level": level_a, "b_level": level_b,
            "a_status": status_a, "b_status": status_b, "vs_gold": direction,
        })

    def engine(report: dict[str, Any]) -> Any:
        return report.get("extra", {}).get("run", {}).get("engine")

    return {
        "a": str(dir_a), "b": str(dir_b), "engine_a": engine(report_a), "engine_b": engine(report_b),
        "n_common": len(common), "n_paired": len(gold),
        "metrics": _round(out_metrics),
        "changed": changed,
        "only_in_a": [i for i in preds_a if i not in preds_b],
        "only_in_b": [i for i in preds_b if i not in preds_a],
    }


def _round(obj: Any) -> Any:
    if isinstance(obj, float):
        return round(obj, 4)
    if isinstance(obj, dict):
        return {k: _round(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_round(v) for v in obj]
    return obj
