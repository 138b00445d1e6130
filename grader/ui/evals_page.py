"""Evals page (evaluators): run a labeled eval set, see metrics and charts, browse and compare runs."""

from __future__ import annotations

import hashlib
import re
import shutil
import time
import uuid
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import streamlit as st

from grader.config import REPO_DIR
from grader.errors import GraderError
from grader.eval_report import split_figures
from grader.store import EvalRun, Store
from grader.ui.charts import heatmap, per_level_bars
from grader.ui.common import T, settings, show_error, store, table, tr
from grader.ui.grade_page import engine_choices, engine_label
from grader.render import when
from grader.ui.render import md_escape

EVALS_DIR = REPO_DIR / "evals"
SHOW = "evals_pick"  # key of the "Show run" selector; set to a new run id when a run finishes
STOPPED = "evals_stopped"  # {run id: what it runs}: runs of this session stopped before they finished
UPLOAD = "evals_upload_kept"  # {"name", "data"} of the uploaded eval set, kept while other pages are shown
CMP_A, CMP_B = "evals_cmp_a", "evals_cmp_b"  # the compared runs; a new run is compared with the one before it
HEADLINE = ("n", "n_failed", "accuracy", "qwk", "within_one", "mae", "spearman", "repeat_alpha", "pair_agreement",
            "quote_validity", "citation_validity")


def _evals():
    from grader import evals  # imported on use: the harness pulls in the engines

    return evals


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


COUNTS = ("n", "n_failed")  # shown as whole numbers; every other metric with 3 decimals, as in the headlines


def _metric_columns(keys: tuple[str, ...]) -> dict[str, Any]:
    """Column config showing these metric columns with 3 decimals (the headlines' precision)."""
    return {k: st.column_config.NumberColumn(tr("col", k), format="%.3f") for k in keys}


def _cell(name: str, value: Any, *, signed: bool = False) -> str | None:
    """A metric value of the comparison table, whose rows mix counts and fractions: a count as
    a whole number, anything else with 3 decimals; `signed` for differences."""
    if not isinstance(value, (int, float)) or isinstance(value, bool) or value != value:
        return None
    if name in COUNTS:
        return f"{round(value):+d}" if signed else str(round(value))
    return f"{value:+.3f}" if signed else f"{value:.3f}"


def _upload_name(name: str) -> str:
    """The name an uploaded file was given, as a file name (no folders, no control characters)."""
    base = Path(str(name).replace("\\", "/")).name
    base = re.sub(r"[\x00-\x1f\x7f]", "", base).strip()
    if len(base) > 120:
        suffix = Path(base).suffix[:20]
        base = base[: 120 - len(suffix)] + suffix
    return base if base.strip(".") else "upload.jsonl"


def _save_upload(name: str, data: bytes, folder: Path) -> tuple[Path, bool]:
    """Keep an uploaded eval set under GRADER_DATA_DIR as <content hash>/<the name it was uploaded
    under>: the file keeps the user's name (the run history shows it), the folder tells apart
    different files of the same name. Also says whether the file was written now (False: the
    same file was uploaded before, and stored runs may use it)."""
    path = folder / hashlib.sha256(data).hexdigest()[:12] / _upload_name(name)
    if path.exists():
        return path, False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path, True


def _drop_upload(path: Path) -> None:
    path.unlink(missing_ok=True)
    try:
        path.parent.rmdir()  # its content-hash folder, when nothing else is in it
    except OSError:
        pass


# uploads kept before they were stored under their own name: <safe stem>-<10 hex digits>.jsonl
_OLD_UPLOAD = re.compile(r"^(?P<stem>.+)-[0-9a-f]{10}(?P<suffix>\.jsonl)$")


def set_name(file: str) -> str:
    """The name an eval run's file is shown under: the file's name (an upload's name as uploaded),
    without the content hash that older uploads carried in theirs."""
    path = Path(file)
    old = _OLD_UPLOAD.match(path.name) if path.parent.name == "eval-uploads" else None
    return old["stem"] + old["suffix"] if old else path.name


def _run_label(run: EvalRun, twins: set[str]) -> str:
    """A run as the selectors list it: time, eval set, engine and repeats; the run id only where
    two runs would otherwise read the same."""
    label = f"{when(run.created_at)} · {set_name(run.file)} · {run.engine} ×{run.repeats}"
    return f"{label} · {run.id}" if label in twins else label


def _keep_upload() -> None:
    """The uploader changed (a file picked, or removed with its ×): keep the file's name and bytes,
    which the uploader itself forgets once another page is shown."""
    upload = st.session_state.get("evals_upload")
    if upload is None:
        st.session_state.pop(UPLOAD, None)
    else:
        st.session_state[UPLOAD] = {"name": upload.name, "data": upload.getvalue()}


def _forget_upload() -> None:
    st.session_state.pop(UPLOAD, None)


def _choose_file() -> tuple[Path | None, dict[str, Any] | None]:
    """The eval set to run: a file of evals/, or an upload ({"name", "data"}; saved only when it is run)."""
    source = st.radio(T("evals.source"), ["evals/", "upload"], horizontal=True, key="evals_source",
                      format_func=lambda v: ":material/folder: evals/" if v == "evals/" else ":material/upload: .jsonl")
    if source == "evals/":
        files = sorted(EVALS_DIR.glob("*.jsonl"))
        if not files:
            st.info(T("evals.none", path=str(EVALS_DIR)))
            return None, None
        return st.selectbox(T("evals.file"), files, key="evals_file", format_func=lambda p: p.name), None
    upload = st.file_uploader(T("evals.upload"), type=["jsonl"], key="evals_upload", on_change=_keep_upload)
    kept = st.session_state.get(UPLOAD)
    if upload is None and kept:  # uploaded before a visit to another page: still the file to run
        left, right = st.columns([4, 1], vertical_alignment="center")
        left.info(T("evals.upload.kept", name=md_escape(kept["name"]), size=f"{len(kept['data']) / 1024:,.1f}"),
                  icon=":material/description:")
        right.button(T("evals.upload.forget"), key="evals_upload_forget", on_click=_forget_upload)
    return None, kept


CLOCK = time.monotonic  # the run's progress clock (a test sets its own)


def clock(seconds: float) -> str:
    """A duration as m:ss, or h:mm:ss from an hour on."""
    h, rest = divmod(max(0, round(seconds)), 3600)
    m, sec = divmod(rest, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"


class RunProgress:
    """The progress bar of a run: grades done of all, the percentage, the time since Run eval was
    clicked and, once grades come in, about how long is left (the time spent grading so far per
    grade × the grades left). Redrawn at each report of the run, i.e. as stories are graded."""

    def __init__(self) -> None:
        self.started = CLOCK()
        self.first: tuple[float, int] | None = None  # (time, grades done) of the run's first report
        self.bar = st.progress(0.0, text=T("evals.progress.start"))

    def text(self, done: int, total: int, now: float) -> str:
        elapsed = clock(now - self.started)
        pct = int(100 * done / total) if total else 0
        t0, done0 = self.first or (now, done)
        if done <= done0 or done >= total:
            return T("evals.progress.no_eta", done=done, total=total, pct=pct, elapsed=elapsed)
        left = (now - t0) / (done - done0) * (total - done)
        return T("evals.progress", done=done, total=total, pct=pct, elapsed=elapsed, left=clock(left))

    def __call__(self, done: int, total: int) -> None:
        from streamlit.runtime.scriptrunner import get_script_run_ctx

        if get_script_run_ctx() is None:  # called from a worker thread: the page cannot be touched there
            return
        now = CLOCK()
        if self.first is None:
            self.first = (now, done)
        self.bar.progress(min(1.0, done / total) if total else 0.0, text=self.text(done, total, now))

    def finished(self, run_id: str, total: int | None, resumed: int = 0) -> None:
        n, elapsed = total if total is not None else "–", clock(CLOCK() - self.started)
        if resumed and isinstance(total, int):  # the time is of the grades of this session only
            text = T("evals.done.resumed", id=run_id, n=n, now=total - resumed, elapsed=elapsed)
        else:
            text = T("evals.done", id=run_id, n=n, elapsed=elapsed)
        self.bar.progress(1.0, text=text)


SAVE_EVERY = 8  # a run started here saves its grades every so many stories (more when GRADER_CONCURRENCY is higher)


def _save_every(s) -> int:
    """Stories graded between two saves of a run started here: few, as a run stops when the page is
    left, but at least as many as the LLM engine grades at once."""
    return max(SAVE_EVERY, s.concurrency)


def _run(db: Store, s, path: Path, engine: str, repeats: int, names: dict[str, str] | None = None,
         new_upload: bool = False, resume: str | None = None) -> None:
    """Run the eval set at `path` (or, with `resume`, the rest of that stopped run) with a progress
    bar; store and show the run when it finishes, or show the error."""
    evals = _evals()
    run_id = resume or datetime.now().strftime("%Y%m%d-%H%M%S") + "-" + uuid.uuid4().hex[:6]
    out_dir = s.data_dir / "eval-runs" / run_id
    # listed until the run finishes or fails: a run stopped by leaving the page (Streamlit ends the
    # script at its next call, so no code of this page runs then) is offered for resuming
    stopped = st.session_state.setdefault(STOPPED, {})
    stopped[run_id] = {"path": str(path), "name": path.name, "engine": engine, "repeats": repeats,
                       "names": names or {}, "new_upload": new_upload, "out_dir": str(out_dir)}
    progress = RunProgress()
    try:
        evals.load_eval_set(path)  # a malformed line is reported before any grading
        report = evals.run_eval([path], out_dir=out_dir, engine=engine, repeats=repeats, settings=s, progress=progress,
                                resume=resume is not None, chunk_size=_save_every(s))
        model = (((report.get("extra") or {}).get("run") or {}).get("engine") or {}).get("model")
        db.add_eval_run(report, run_id=run_id, file=str(path), engine=engine, out_dir=out_dir, repeats=repeats, model=model)
    except GraderError as exc:
        stopped.pop(run_id, None)
        progress.bar.empty()
        show_error(exc, names)
        if new_upload and not _in_use(db, path):  # an upload no stored run uses is not kept (a malformed one in particular)
            _drop_upload(path)
        return
    stopped.pop(run_id, None)
    n = report.get("n")
    resumed = ((report.get("extra") or {}).get("run") or {}).get("resumed") or 0
    progress.finished(run_id, n * repeats if isinstance(n, int) else None, resumed)
    st.session_state[SHOW] = run_id  # before the selector is created below, so it moves to the new run
    st.session_state.pop(CMP_A, None)
    st.session_state.pop(CMP_B, None)  # the comparison falls back to this run against the one before it


def _in_use(db: Store, path: Path) -> bool:
    return any(r.file == str(path) for r in db.eval_runs(limit=100_000))


def _discard(run_id: str) -> None:
    """Delete a stopped run's folder (and its upload, when no stored run uses it)."""
    run = (st.session_state.get(STOPPED) or {}).pop(run_id, None)
    if not run:
        return
    shutil.rmtree(run["out_dir"], ignore_errors=True)
    if run["new_upload"] and not _in_use(store(settings()), Path(run["path"])):
        _drop_upload(Path(run["path"]))


def _stopped_runs(db: Store, s) -> None:
    """The runs of this session stopped before they finished: resume (the saved grades are kept and
    not graded again) or discard each."""
    for run_id, run in list((st.session_state.get(STOPPED) or {}).items()):
        saved = _evals().saved_grades(Path(run["out_dir"]), run["repeats"])
        slot = st.empty()
        with slot.container():
            st.warning(T("evals.stopped", name=md_escape(run["name"]), engine=run["engine"], repeats=run["repeats"], saved=saved),
                       icon=":material/pause_circle:")
            left, right, _ = st.columns([1, 1, 4])
            resume = left.button(T("evals.resume"), key=f"evals_resume_{run_id}", type="primary")
            right.button(T("evals.discard"), key=f"evals_discard_{run_id}", on_click=_discard, args=(run_id,))
        if resume:
            slot.empty()  # the run's progress bar takes its place
            _run(db, s, Path(run["path"]), run["engine"], run["repeats"], run["names"], run["new_upload"], resume=run_id)


def show_run(run: EvalRun) -> None:
    r = run.report
    st.caption(md_escape(f"{run.id} · {set_name(run.file)} · {run.engine} · ×{run.repeats} · {when(run.created_at)}"))
    shown = [(k, r.get(k)) for k in HEADLINE if k in r]
    retold = (r.get("extra") or {}).get("content_pairs")
    if retold is not None and "pair_agreement" in r:  # translations/paraphrases alone, after all pair ids
        at = [k for k, _ in shown].index("pair_agreement") + 1
        shown[at:at] = [("content_pairs", retold.get("agreement"))]
    values = dict(shown)
    keys = list(values)
    for i in range(0, len(keys), 6):
        cols = st.columns(6)
        for col, k in zip(cols, keys[i : i + 6]):
            col.metric(tr("col", k), _fmt(values[k]))
    _coverage(r)
    for warning in ((r.get("extra") or {}).get("run") or {}).get("warnings") or []:
        st.warning(md_escape(str(warning)))
    lat = r.get("latency_ms") or {}
    if lat:
        ms = lambda v: "–" if v is None else f"{v:,.0f}"  # noqa: E731 - whole milliseconds
        st.caption(T("evals.latency", p50=ms(lat.get("p50")), p95=ms(lat.get("p95"))))
    left, right = st.columns(2)
    if r.get("confusion"):
        with left:
            st.markdown(f"**{T('evals.confusion')}**")
            st.altair_chart(heatmap(r["confusion"], T("col.gold"), T("col.predicted"), T("col.count")), width="stretch")
    if r.get("per_level"):
        with right:
            st.markdown(f"**{T('evals.per_level')}**")
            titles = {f: T(f"col.{f}") for f in ("level", "recall", "precision")} | {"n": T("col.n_gold")}
            st.altair_chart(per_level_bars(r["per_level"], titles), width="stretch")
    by_lang = r.get("by_lang") or {}
    if by_lang:
        st.markdown(f"**{T('evals.by_lang')}**")
        rows = [{"lang": tr("lang", k), **{m: v.get(m) for m in ("n", "accuracy", "qwk", "within_one", "mae") if isinstance(v, dict)}}
                for k, v in by_lang.items()]
        table(rows, column_config=_metric_columns(("accuracy", "qwk", "within_one", "mae")))
    out = Path(run.out_dir)
    if not out.is_dir():
        st.caption(T("evals.missing_dir", path=str(out)))
        return
    left, right = st.columns(2)
    for col, name, label, mime in ((left, "report.md", "evals.download_report", "text/markdown"),
                                   (right, "predictions.jsonl", "evals.download_predictions", "application/jsonl")):
        if (out / name).is_file():
            col.download_button(T(label), (out / name).read_bytes(), file_name=f"{run.id}-{name}", mime=mime,
                                key=f"dl_{name}_{run.id}", on_click="ignore")


def _coverage(r: dict[str, Any]) -> None:
    """Which items the agreement figures are over, in the report's own counts (extra.n_scored etc.)."""
    x = r.get("extra") or {}
    if x.get("n_scored") is None or x.get("n_labeled") is None:
        return  # a report from before these counts
    lines = [T("evals.coverage", scored=x["n_scored"], labeled=x["n_labeled"], insufficient=x.get("n_insufficient", 0))]
    failed = x["n_labeled"] - x["n_scored"] - x.get("n_insufficient", 0)  # labeled = scored + insufficient + failed
    if failed > 0:
        lines.append(T("evals.coverage.failed", failed=failed))
    if x.get("n_not_work"):
        lines.append(T("evals.coverage.not_work", n=x["n_not_work"], rate=_fmt(x.get("insufficient_rate"))))
    split, rest = split_figures(x)
    if split.get("n_scored"):  # README "Split grades"
        lines.append(T("evals.coverage.split", n=split["n_scored"], acc=_fmt(split.get("accuracy")), rest=_fmt(rest.get("accuracy"))))
    ev = x.get("evidence") or {}
    if ev.get("n_shown"):  # README "Evidence sentences"
        lines.append(T("evals.coverage.evidence", shown=ev["n_shown"], gold=ev.get("n_gold", 0),
                       first=_fmt(ev.get("first_on_gold")), any=_fmt(ev.get("any_on_gold"))))
    st.caption(" ".join(lines))


def show_comparison(result: dict[str, Any]) -> None:
    """Render grader.evals.compare_runs(a, b): metric deltas (b - a) with paired 95% intervals, changed items."""
    st.caption(T("evals.compare.counts", common=result.get("n_common", 0), paired=result.get("n_paired", 0)))
    if not result.get("n_common"):  # different eval sets: differences of their metrics mean nothing
        st.warning(T("evals.compare.disjoint"))
        return
    only_a, only_b = len(result.get("only_in_a") or []), len(result.get("only_in_b") or [])
    if only_a or only_b:  # A and B are over different items: their difference is not a change
        st.warning(T("evals.compare.partial", a=only_a, b=only_b))
    rows = []
    for name, m in (result.get("metrics") or {}).items():
        p = m.get("paired") or {}
        ci = p.get("ci95")
        row = {"metric": tr("col", name), "A": _cell(name, m.get("a")), "B": _cell(name, m.get("b"))}
        if not (only_a or only_b):
            row["Δ (B−A)"] = _cell(name, m.get("delta"), signed=True)
        rows.append(row | {
            "paired Δ": _cell(name, p.get("delta"), signed=True), "95% CI": f"[{ci[0]:+.3f}, {ci[1]:+.3f}]" if ci else None,
            "significant": p.get("significant"),
        })
    if rows:
        table(rows)
    changed = result.get("changed") or []
    st.markdown(f"**{T('evals.changed', n=len(changed))}**")
    if changed:
        table([{**c, "a_status": tr("status", c.get("a_status")), "b_status": tr("status", c.get("b_status")),
                "vs_gold": tr("evals.vs", c.get("vs_gold"))} for c in changed])


def _history(db: Store) -> None:
    runs = db.eval_runs()
    st.subheader(T("evals.history"))
    if not runs:
        st.info(T("evals.no_runs"))
        return
    table([
        {"run": r.id, "time": when(r.created_at), "file": set_name(r.file), "engine": r.engine, "repeats": r.repeats,
         "n": r.n, "accuracy": r.accuracy, "qwk": r.qwk, "within_one": r.within_one}
        for r in runs
    ], column_config=_metric_columns(("accuracy", "qwk", "within_one")))
    by_id = {r.id: r for r in runs}
    ids = list(by_id)
    twins = {x for x, n in Counter(_run_label(r, set()) for r in runs).items() if n > 1}
    names = {r.id: _run_label(r, twins) for r in runs}  # looked up now: AppTest formats outside the run
    if st.session_state.get(SHOW) not in by_id:
        st.session_state.pop(SHOW, None)  # a stale pick falls back to the newest run
    shown = st.selectbox(T("evals.show"), ids, key=SHOW, format_func=names.__getitem__)
    show_run(by_id[shown])
    if len(ids) < 2:
        return
    st.subheader(T("evals.compare"))
    left, right = st.columns(2)
    same_set = [r.id for r in runs[1:] if r.file == runs[0].file]  # the newest run's set, run before
    # no earlier run of its set: nothing is compared until run A is picked
    for key, default in ((CMP_A, (same_set or ids)[0]), (CMP_B, ids[0])):
        if st.session_state.get(key) not in by_id:
            st.session_state[key] = default
    a = left.selectbox(T("evals.run_a"), ids, key=CMP_A, format_func=names.__getitem__)
    b = right.selectbox(T("evals.run_b"), ids, key=CMP_B, format_func=names.__getitem__)
    if a == b:
        st.caption(T("evals.compare.pick"))
        return
    try:
        result = _evals().compare_runs(Path(by_id[a].out_dir), Path(by_id[b].out_dir))
    except (GraderError, OSError) as exc:
        show_error(exc)
        return
    show_comparison(result)


def render() -> None:
    s = settings()
    st.title(T("evals.title"))
    db = store(s)
    path, upload = _choose_file()
    engines = engine_choices(s)
    c1, c2 = st.columns(2)
    engine = c1.selectbox(T("grade.engine"), engines, key="evals_engine", format_func=engine_label(s))
    st.session_state.setdefault("evals_repeats", 1)  # a default here and a kept value would make Streamlit warn
    repeats = int(c2.number_input(T("evals.repeats"), min_value=1, max_value=10, step=1, key="evals_repeats"))
    st.caption(T("evals.stay", n=_save_every(s)))
    if st.button(T("evals.run"), type="primary", key="evals_run", disabled=path is None and upload is None):
        names: dict[str, str] = {}
        new_upload = False
        if upload is not None:  # kept under GRADER_DATA_DIR; messages name it as uploaded
            path, new_upload = _save_upload(upload["name"], upload["data"], s.data_dir / "eval-uploads")
            names = {str(path): path.name}
        if path is not None:
            _run(db, s, path, engine, repeats, names, new_upload)
    _stopped_runs(db, s)
    try:
        _history(db)
    except GraderError as exc:
        show_error(exc)
