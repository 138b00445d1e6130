"""What an eval run keeps per item, and the report (DESIGN.md "Eval report") built from it.

`build_report` is pure: outcomes + tallies in, the report dict out. Its top-level keys are
exactly the contract's; everything else lives under `extra`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from grader import metrics as m
from grader.errors import BadInputError
from grader.evidence_model import quote_spans
from grader.levels import split_levels
from grader.types import EvalItem

# Tags that mark a pair id's members as the same story told again (a translation or a
# paraphrase), as opposed to an injection variant and its base story, which share a pair id too.
SAME_CONTENT_TAGS = ("translation", "paraphrase")

BAD_INPUT = "bad input: "  # prefix of the error of a story that was never sent to the engine
CONTRACT_KEYS = (
    "n", "n_failed", "accuracy", "within_one", "mae", "qwk", "spearman", "confusion", "per_level",
    "pair_agreement", "repeat_alpha", "quote_validity", "citation_validity", "latency_ms", "tokens", "by_lang",
)
# metrics a --fail-under gate may name (all "higher is better"); extra.* ones are looked up there
GATE_METRICS = (
    "qwk", "within_one", "accuracy", "spearman", "pair_agreement", "repeat_alpha", "quote_validity",
    "citation_validity", "coverage", "insufficient_rate", "alpha_gold", "evidence_on_gold",
)
# gate metrics that live deeper in `extra`: evidence_on_gold = the share of shown gold indicators
# whose first quote is one of the item's gold evidence sentences
_NESTED = {"evidence_on_gold": ("evidence", "first_on_gold")}
NOT_WORK_TAG = "not-work"


@dataclass(slots=True)
class Brief:
    """The parts of one prediction line the report needs."""

    status: str
    level: int | None
    error: str | None
    language: str
    latency_ms: float | None  # None when the engine never ran (bad input)
    input_tokens: int
    output_tokens: int
    cost_usd: float
    cached: bool
    spans: list[tuple[int, int, int]]  # evidence (start, end, hash(quote))
    cited: list[str]
    split: bool = False  # graded with a level distribution torn between two far-apart levels
    shown: dict[str, list[tuple[int, int]]] = field(default_factory=dict)  # met/partial indicator -> its evidence spans
    judged: frozenset[str] = frozenset()  # every indicator id the grade judges, whatever its status

    @classmethod
    def from_line(cls, d: Mapping[str, Any]) -> "Brief":
        """From a predictions.jsonl line; raises ValueError/KeyError/TypeError if it is not one."""
        status = d["status"]
        level = d.get("level")
        if status == "graded":
            if isinstance(level, bool) or not isinstance(level, int):
                raise ValueError("graded line without an integer level")
        elif status in ("insufficient_evidence", "failed"):
            level = None
        else:
            raise ValueError(f"unknown status {status!r}")
        error = d.get("error")
        usage = d.get("usage") or {}
        bad = status == "failed" and str(error or "").startswith(BAD_INPUT)
        return cls(
            status=status, level=level, error=None if error is None else str(error),
            language=str(d.get("language") or "en"),
            latency_ms=None if bad else float(usage.get("latency_ms") or 0.0),
            input_tokens=int(usage.get("input_tokens") or 0), output_tokens=int(usage.get("output_tokens") or 0),
            cost_usd=float(usage.get("cost_usd") or 0.0), cached=bool(usage.get("cached")),
            spans=[
                (int(e["start"]), int(e["end"]), hash(str(e["quote"])))
                for j in d.get("indicators") or [] for e in j.get("evidence") or []
            ],
            cited=[str(c["id"]) for c in d.get("citations") or []],
            split=level is not None and split_levels(d.get("distribution")) is not None,
            shown={
                str(j["id"]): [(int(e["start"]), int(e["end"])) for e in j.get("evidence") or []]
                for j in d.get("indicators") or [] if j.get("status") in ("met", "partial") and j.get("evidence")
            },
            judged=frozenset(str(j["id"]) for j in d.get("indicators") or []),
        )


@dataclass(slots=True)
class ItemOutcome:
    """One item's result across repeats (index 0 = the first repeat, the one agreement uses)."""

    id: str
    gold: int | None
    lang: str
    tags: tuple[str, ...]
    pair: str | None
    not_work: bool
    levels: list[int | None]
    statuses: list[str]
    split: bool = False  # the first repeat's grade was split (README "Split grades")

    @property
    def outcome(self) -> int | str:
        """The level, or the status when there is none (used to compare pairs and repeats)."""
        return self.levels[0] if self.levels[0] is not None else self.statuses[0]


@dataclass
class Tally:
    """Run-wide counters (quotes, citations, latency, tokens, failures) kept while streaming."""

    quotes_ok: int = 0
    quotes: int = 0
    cited: Counter = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    cached_repeats: int = 0
    failed: list[dict[str, Any]] = field(default_factory=list)
    evidence: Counter = field(default_factory=Counter)  # gold / shown / first / any (see evidence_tally)

    def add(self, item: EvalItem, text: str, briefs: Sequence[Brief]) -> ItemOutcome:
        for repeat, b in enumerate(briefs, 1):
            for start, end, quote_hash in b.spans:
                self.quotes += 1
                self.quotes_ok += 0 <= start <= end <= len(text) and hash(text[start:end]) == quote_hash
            self.cited.update(b.cited)
            if b.latency_ms is not None:
                self.latencies.append(b.latency_ms)
            self.input_tokens += b.input_tokens
            self.output_tokens += b.output_tokens
            self.cost_usd += b.cost_usd
            self.cached_repeats += repeat > 1 and b.cached
            if b.status == "failed":
                self.failed.append({"id": item.id, "repeat": repeat, "reason": b.error or "unknown"})
        extras = item.extras()
        if briefs and briefs[0].status == "graded":
            self.evidence.update(evidence_tally(text, extras.get("gold_evidence"), briefs[0].shown, briefs[0].judged))
        return ItemOutcome(
            id=item.id, gold=item.level, lang=item.lang or briefs[0].language, tags=tuple(item.tags), pair=item.pair,
            not_work=extras.get("expected_status") == "insufficient_evidence" or NOT_WORK_TAG in item.tags,
            levels=[b.level for b in briefs], statuses=[b.status for b in briefs], split=briefs[0].split,
        )


def evidence_tally(text: str, gold: Any, shown: Mapping[str, Sequence[tuple[int, int]]], judged: Iterable[str]) -> Counter:
    """How a graded item's quotes meet its gold evidence (the item's `gold_evidence`): per
    indicator the grade judges (a principle id in the gold is not one) with gold quotes, `gold` +1;
    if the grade shows it met or partial with quotes, `shown` +1, `first` +1 when its first quote
    overlaps a gold sentence, `any` +1 when one does."""
    c: Counter = Counter()
    if not isinstance(gold, dict):
        return c
    judged = set(judged)
    for ident, quotes in gold.items():
        if ident not in judged:
            continue
        spans = quote_spans(text, quotes)
        if not spans:
            continue
        c["gold"] += 1
        quoted = shown.get(ident) or []
        if not quoted:
            continue
        hits = [any(s < g_end and g_start < e for g_start, g_end in spans) for s, e in quoted]
        c["shown"] += 1
        c["first"] += hits[0]
        c["any"] += any(hits)
    return c


def evidence_figures(c: Mapping[str, int]) -> dict[str, Any] | None:
    """extra.evidence of the report: None when no item has gold evidence."""
    if not c.get("gold"):
        return None
    return {
        "n_gold": c["gold"], "n_shown": c.get("shown", 0), "shown": m.share(c.get("shown", 0), c["gold"]),
        "first_on_gold": m.share(c.get("first", 0), c.get("shown", 0)), "any_on_gold": m.share(c.get("any", 0), c.get("shown", 0)),
    }


# --------------------------------------------------------------------------- report


def _scored(outcomes: Iterable[ItemOutcome]) -> tuple[list[int], list[int]]:
    pairs = [(o.gold, o.levels[0]) for o in outcomes if o.gold is not None and o.levels[0] is not None]
    return [g for g, _ in pairs], [p for _, p in pairs]


def group_summary(outcomes: Sequence[ItemOutcome]) -> dict[str, Any]:
    """n, n_failed, n_scored and the agreement figures of a group of items (a language, a tag)."""
    gold, pred = _scored(outcomes)
    return {
        "n": len(outcomes),
        "n_failed": sum(1 for o in outcomes if o.statuses[0] == "failed"),
        "n_scored": len(gold),
        **m.agreement(gold, pred),
    }


def _round(obj: Any, digits: int = 4) -> Any:
    if isinstance(obj, float):
        return round(obj, digits)
    if isinstance(obj, dict):
        return {k: _round(v, digits) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_round(v, digits) for v in obj]
    return obj


def _repeat_consistency(outcomes: Sequence[ItemOutcome]) -> tuple[float | None, float | None, list[str]]:
    repeats = max((len(o.levels) for o in outcomes), default=1)
    if repeats < 2:
        return None, None, []
    rows = [[o.levels[r] if r < len(o.levels) else None for o in outcomes] for r in range(repeats)]
    changed = [
        o.id for o in outcomes
        if len({lv if lv is not None else st for lv, st in zip(o.levels, o.statuses) if st != "failed"}) > 1
    ]
    changed_ids = set(changed)
    comparable = [o for o in outcomes if sum(st != "failed" for st in o.statuses) >= 2]
    exact = m.share(sum(1 for o in comparable if o.id not in changed_ids), len(comparable))
    return m.ordinal_alpha(rows), exact, changed


def build_report(
    outcomes: Sequence[ItemOutcome],
    tally: Tally,
    *,
    existing_ids: set[str] | None,
    meta: Mapping[str, Any],
    n_resamples: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """The eval report. `existing_ids`: which cited ids exist in the index (None = not measured)."""
    gold, pred = _scored(outcomes)
    labeled = [o for o in outcomes if o.gold is not None]
    non_failed = [o for o in outcomes if o.statuses[0] != "failed"]
    groups: dict[str, list[int | str]] = {}
    for o in non_failed:
        if o.pair:
            groups.setdefault(o.pair, []).append(o.outcome)
    retold_ids = {o.pair for o in non_failed if o.pair and set(o.tags) & set(SAME_CONTENT_TAGS)}
    retold = {p: g for p, g in groups.items() if p in retold_ids}  # translation/paraphrase groups only
    alpha, repeat_exact, repeat_changed = _repeat_consistency(outcomes)
    n_cited = sum(tally.cited.values())
    citation_validity = (
        m.share(sum(c for i, c in tally.cited.items() if i in existing_ids), n_cited) if existing_ids is not None else None
    )
    by_lang: dict[str, list[ItemOutcome]] = {}
    by_tag: dict[str, list[ItemOutcome]] = {}
    for o in outcomes:
        by_lang.setdefault(o.lang, []).append(o)
        for t in o.tags:
            by_tag.setdefault(t, []).append(o)
    injected = [o for o in outcomes if any("injection" in t for t in o.tags) and o.gold is not None and o.levels[0] is not None]
    shift = m.level_shift([o.gold for o in injected], [o.levels[0] for o in injected])  # type: ignore[misc]
    shift["items"] = [{"id": o.id, "gold_level": o.gold, "level": o.levels[0]} for o in injected if o.levels[0] != o.gold]
    not_work = [o for o in outcomes if o.not_work and o.statuses[0] != "failed"]
    agree = m.agreement(gold, pred)
    report: dict[str, Any] = {
        "n": len(outcomes),
        "n_failed": sum(1 for o in outcomes if o.statuses[0] == "failed"),
        **agree,
        "confusion": m.confusion(gold, pred),
        "per_level": m.per_level(gold, pred),
        "pair_agreement": m.pair_agreement(groups.values()),
        "repeat_alpha": alpha,
        "quote_validity": m.share(tally.quotes_ok, tally.quotes),
        "citation_validity": citation_validity,
        "latency_ms": m.percentiles(tally.latencies),
        "tokens": {"input": tally.input_tokens, "output": tally.output_tokens, "total": tally.input_tokens + tally.output_tokens},
        "by_lang": {lang: group_summary(v) for lang, v in sorted(by_lang.items())},
    }
    boot = {"n_resamples": n_resamples, "seed": seed}
    report["extra"] = {
        "n_labeled": len(labeled),
        "n_scored": len(gold),
        "n_insufficient": sum(1 for o in labeled if o.statuses[0] == "insufficient_evidence"),
        "coverage": m.share(len(gold), len(labeled)),
        "ci95": {
            "qwk": m.bootstrap_ci(m.qwk_batch, gold, pred, **boot),
            "within_one": m.bootstrap_ci(m.within_one_batch, gold, pred, **boot),
            "accuracy": m.bootstrap_ci(m.accuracy_batch, gold, pred, **boot),
        },
        "alpha_gold": m.ordinal_alpha([gold, pred]) if gold else None,
        "n_not_work": len(not_work),
        "insufficient_rate": m.share(sum(1 for o in not_work if o.statuses[0] == "insufficient_evidence"), len(not_work)),
        "not_work_graded": [{"id": o.id, "level": o.levels[0]} for o in not_work if o.levels[0] is not None],
        "insufficient_ids": [o.id for o in labeled if o.statuses[0] == "insufficient_evidence"],
        "injection_shift": shift,
        "n_pairs": sum(1 for g in groups.values() if len(g) >= 2),
        "pairs_split": sorted(p for p, g in groups.items() if len(g) >= 2 and len(set(g)) > 1),
        "content_pairs": {
            "tags": list(SAME_CONTENT_TAGS),
            "n": sum(1 for g in retold.values() if len(g) >= 2),
            "agreement": m.pair_agreement(retold.values()),
        },
        # grades torn between two far-apart levels, against the rest: how much the warning is worth
        "split_grades": {
            "split": group_summary([o for o in labeled if o.split]),
            "rest": group_summary([o for o in labeled if not o.split]),
        },
        "repeats": max((len(o.levels) for o in outcomes), default=1),
        "repeat_exact": repeat_exact,
        "repeat_changed": repeat_changed,
        "cached_repeats": tally.cached_repeats,
        "by_tag": {t: group_summary(v) for t, v in sorted(by_tag.items())},
        "quotes": {"valid": tally.quotes_ok, "total": tally.quotes},
        # quotes against the items' gold evidence sentences (README "Evidence sentences")
        "evidence": evidence_figures(tally.evidence),
        "citations": {
            "valid": None if existing_ids is None else n_cited - sum(c for i, c in tally.cited.items() if i not in existing_ids),
            "total": n_cited,
            "unknown_ids": None if existing_ids is None else sorted(i for i in tally.cited if i not in existing_ids)[:50],
        },
        "cost_usd": tally.cost_usd if tally.cost_usd else None,
        "failed": tally.failed,
        "run": dict(meta),
    }
    if tally.cached_repeats:
        report["extra"]["run"]["warnings"] = [
            *report["extra"]["run"].get("warnings", []),
            f"{tally.cached_repeats} repeat grade(s) came from the engine's cache: repeat_alpha overstates consistency",
        ]
    return _round(report)


# --------------------------------------------------------------------------- gates


def parse_fail_under(text: str) -> dict[str, float]:
    """'qwk=0.8,within_one=0.9' -> {'qwk': 0.8, 'within_one': 0.9}. Raises BadInputError, also
    for a metric given twice ('qwk=0.7,qwk=0.9': which one was meant?)."""
    out: dict[str, float] = {}
    given: dict[str, str] = {}  # metric -> the part that set it
    for part in (text or "").split(","):
        part = part.strip()
        if not part:
            continue
        name, sep, raw = part.partition("=")
        name = name.strip().lower().replace("-", "_")
        if not sep:
            raise BadInputError(f"--fail-under: {part!r} is not NAME=VALUE (e.g. --fail-under qwk=0.8,within_one=0.9)")
        if name not in GATE_METRICS:
            raise BadInputError(f"--fail-under: unknown metric {name!r}: use one of {', '.join(GATE_METRICS)}")
        if name in given:
            raise BadInputError(
                f"--fail-under: metric {name!r} is given twice ({given[name]!r} and {part!r}): give each metric once"
            )
        given[name] = part
        try:
            value = float(raw)
        except ValueError:
            raise BadInputError(f"--fail-under: {raw.strip()!r} is not a number (in {part!r})") from None
        if not -1.0 <= value <= 1.0:
            raise BadInputError(f"--fail-under: {name}={value:g} is out of range: thresholds lie between -1 and 1")
        out[name] = value
    if not out:
        raise BadInputError("--fail-under is empty: give thresholds like qwk=0.8,within_one=0.9")
    return out


def metric_value(report: Mapping[str, Any], name: str) -> Any:
    """A metric from the top level of a report or from its `extra`."""
    if name in _NESTED:
        outer, inner = _NESTED[name]
        return (report.get("extra", {}).get(outer) or {}).get(inner)
    return report[name] if name in report else report.get("extra", {}).get(name)


def check_thresholds(report: Mapping[str, Any], thresholds: Mapping[str, float]) -> list[str]:
    """The thresholds the report misses, as readable lines ('qwk 0.612 < 0.8'). A metric that
    could not be measured (e.g. no pairs in the set) misses its threshold."""
    missed: list[str] = []
    for name, minimum in thresholds.items():
        value = metric_value(report, name)
        if value is None:
            missed.append(f"{name} was not measured (nothing in this run to compute it on), wanted >= {minimum:g}")
        elif value < minimum:
            missed.append(f"{name} {value:.3f} < {minimum:g}")
    return missed
