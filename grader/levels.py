"""The one documented rule that turns indicator statuses into a level (shared by all engines).

Credit of a level = (#met + 0.5 * #partial) over that level's indicators.

1. No indicator of any level has evidence (met or partial)  ->  no level: insufficient evidence.
2. A positive level L (1..max) is *reached* when its credit >= 1 (one indicator met, or two
   partially met). For L >= 3 it also needs support: credit(L-1) >= 0.5, or credit(L) >= 2
   (two of its own indicators met), because lifecycle involvement, advocacy and innovation
   build on acting on feedback.
3. The level is the highest reached positive level.
4. If no positive level is reached: LV.0 when the level-0 (indifference) indicators have
   credit >= 0.5 or nothing else has any credit; otherwise LV.1 (some awareness shown, e.g.
   a partial LV.1/LV.2 indicator) — unless the only partial credit is above LV.2, in which
   case the lowest level with credit, capped at LV.2, applies (a claim without action).
5. Level-0 behaviour shown next to a reached positive level does not cancel it (grade the
   behaviour shown) but is reported as a gap, and lowers confidence.

Engines that set the level another way (a trained model, the LLM's own judgement) keep this
rule's level beside theirs in `Grade.rule_level`; `combine_confidence` lowers confidence when
the two disagree.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

CREDIT = {"met": 1.0, "partial": 0.5, "not_met": 0.0, "no_evidence": 0.0}
REACHED = 1.0
SUPPORT = 0.5
SELF_SUPPORT = 2.0


def level_of(indicator_id: str) -> int:
    """'co.L3.2' -> 3."""
    try:
        return int(indicator_id.split(".L", 1)[1].split(".", 1)[0])
    except (IndexError, ValueError):
        raise ValueError(f"{indicator_id!r} is not an indicator id like 'co.L3.2'") from None


def credits(statuses: Mapping[str, str], max_level: int) -> list[float]:
    """Credit per level 0..max_level from {indicator_id: status}."""
    out = [0.0] * (max_level + 1)
    for ident, status in statuses.items():
        lv = level_of(ident)
        if 0 <= lv <= max_level:
            out[lv] += CREDIT[status]
    return out


def rule_level(statuses: Mapping[str, str], max_level: int = 5) -> int | None:
    """Apply the rule above. Returns None when there is no evidence at all."""
    c = credits(statuses, max_level)
    if not any(v > 0 for v in c):
        return None
    reached = [
        lv
        for lv in range(1, max_level + 1)
        if c[lv] >= REACHED and (lv < 3 or c[lv - 1] >= SUPPORT or c[lv] >= SELF_SUPPORT)
    ]
    if reached:
        return max(reached)
    positive = [lv for lv in range(1, max_level + 1) if c[lv] > 0]
    if c[0] >= SUPPORT or not positive:
        return 0
    return min(min(positive), 2) if min(positive) > 2 else 1


def mixed_signals(statuses: Mapping[str, str], level: int | None) -> bool:
    """True when indifference (LV.0) behaviour appears next to a positive level."""
    if level is None or level == 0:
        return False
    return any(level_of(i) == 0 and s in ("met", "partial") for i, s in statuses.items())


SPLIT_SHARE = 0.2  # share each of two far-apart levels must hold for `split_levels` (README: "Split grades")


def split_levels(distribution: Sequence[float] | None, min_share: float = SPLIT_SHARE, gap: int = 2) -> tuple[int, int] | None:
    """Two peaks of a level distribution at least `gap` levels apart, each holding at least
    `min_share`, with every level between them lower than both: the model torn between far-apart
    readings of the story (in cross-validation such grades were right half as often as the rest).
    The pair with the most probability; None when there is none."""
    d = list(distribution or [])

    def peak(i: int) -> bool:
        return d[i] >= min_share and all(d[i] >= d[k] for k in (i - 1, i + 1) if 0 <= k < len(d))

    pairs = [(i, j) for i in range(len(d)) for j in range(i + gap, len(d)) if peak(i) and peak(j) and max(d[i + 1 : j]) < min(d[i], d[j])]
    return max(pairs, key=lambda ij: d[ij[0]] + d[ij[1]], default=None)


def combine_confidence(base: float, rule: int | None, other: int | None) -> float:
    """Lower confidence when the rule's level and another estimate disagree (halved per level apart)."""
    base = min(max(base, 0.0), 1.0)
    if rule is None or other is None or rule == other:
        return round(base, 4)
    return round(base / (1 + abs(rule - other)), 4)


def statuses_from(judgments: Iterable[object]) -> dict[str, str]:
    """{id: status} from IndicatorJudgment-like objects."""
    return {j.id: j.status for j in judgments}  # type: ignore[attr-defined]
