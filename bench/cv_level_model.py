"""Grouped 5-fold cross-validation of the level model over train+dev (the test split is not read).

    uv run python bench/cv_level_model.py [--folds 5] [--shuffle SEED ...] [--fraction F ...]

Analyses every labeled text of evals/*.train.jsonl and evals/*.dev.jsonl once (2–3 minutes
on 2 cores), then for each variant trains the level model with `grader.training.train` on four
folds (language centres of the e5 block included) and predicts the fifth. Folds are grouped by pair id, so a story, its translations,
paraphrases and injection variants are always held out together. `--shuffle 0 1 2` repeats
it for other assignments of groups to folds (shuffled with those seeds, stratified by label) to
show how much the figures move. Variants: the shipped settings, the same without the
detectors' consistency penalty, the same with the e5 block at full weight in the detectors,
and the same without the phrasing detectors (`--variants` picks some). `--fraction 0.5 0.75`
draws a learning curve: each training fold keeps only that share of its story groups (drawn
with `--fraction-seed`, whole groups, so a kept story keeps its translations), the held-out
fold is scored in full. Prints per variant (and fold assignment, and fraction):

- QWK, within one, exact accuracy over the work stories that got a level;
- pairs: translation/paraphrase groups of work stories whose members all got the same outcome
  (a level, or "insufficient");
- not-work texts answered with insufficient evidence, and work stories wrongly answered so.

These are the figures of the README's cross-validation table.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from grader import metrics  # noqa: E402
from grader.cli import progress_bar  # noqa: E402
from grader.config import Settings  # noqa: E402
from grader.grading import get_rubric  # noqa: E402
from grader.index import ensure_index  # noqa: E402
from grader.model import model_from_artifact  # noqa: E402
from grader.training import (  # noqa: E402
    NONE_CLASS,
    analyse_items,
    feature_matrix,
    label_of,
    read_items,
    split_of,
    tells_a_paired_story,
    train,
)

VARIANTS: dict[str, dict[str, float]] = {
    "shipped": {},
    "no consistency penalty": {"consistency": 0.0},
    "e5 block at full weight": {"e5_weight": 1.0},
    "no phrasing detectors": {"ngrams": False},
}


def keep_groups(rows: list[int], groups: list[str], fraction: float, seed: int) -> list[int]:
    """The rows of a random `fraction` of the story groups among `rows` (at least one group),
    whole groups only, in their original order; the same for the same seed."""
    import numpy as np

    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    present = sorted({groups[k] for k in rows})
    keep = set(np.random.default_rng(seed).permutation(present)[: max(1, round(fraction * len(present)))])
    return [k for k in rows if groups[k] in keep]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--folds", type=int, default=5, help="number of grouped folds (default 5)")
    ap.add_argument("--shuffle", type=int, nargs="+", metavar="SEED", help="shuffled, label-stratified group folds, one run per seed")
    ap.add_argument("--variants", nargs="+", choices=list(VARIANTS), metavar="NAME",
                    help=f"variants to run (default all): {', '.join(repr(v) for v in VARIANTS)}")
    ap.add_argument("--fraction", type=float, nargs="+", default=[1.0], metavar="F",
                    help="train on this share (0-1] of each training fold's story groups: a learning curve (default 1)")
    ap.add_argument("--fraction-seed", type=int, default=0, metavar="SEED", help="seed of the groups --fraction keeps (default 0)")
    args = ap.parse_args()
    if any(not 0 < f <= 1 for f in args.fraction):
        ap.error("--fraction takes shares in (0, 1], e.g. 0.5 0.75")
    variants = {name: VARIANTS[name] for name in (args.variants or VARIANTS)}
    from sklearn.model_selection import GroupKFold, StratifiedGroupKFold

    settings = Settings.from_env()
    rubric = get_rubric(None, settings)
    paths = sorted((REPO / "evals").glob("*.train.jsonl")) + sorted((REPO / "evals").glob("*.dev.jsonl"))
    items = [it for it in read_items(paths) if label_of(it) is not None]
    leaked = [it.id for it in items if split_of(it) == "test"]
    if leaked:
        sys.exit(f"{len(leaked)} items belong to the test split by the split rule (e.g. {leaked[0]}): not cross-validating on them")
    ensure_index(settings)
    t0 = time.perf_counter()
    with progress_bar("analysing stories") as bar:
        task = bar.add_task("cv", total=len(items))
        analysed = analyse_items(items, rubric, settings, progress=lambda d, t: bar.update(task, completed=d, total=t))
    print(f"{len(items)} labeled texts of train+dev analysed in {time.perf_counter() - t0:.0f} s; {args.folds} folds grouped by pair\n")

    groups = [it.pair or it.id for it in items]
    labels = [label_of(it) for it in items]
    rows = list(range(len(items)))
    assignments = {"grouped": list(GroupKFold(n_splits=args.folds).split(rows, groups=groups))} if args.shuffle is None else {
        f"seed {seed}": list(StratifiedGroupKFold(n_splits=args.folds, shuffle=True, random_state=seed).split(rows, labels, groups))
        for seed in args.shuffle
    }
    work = [k for k, it in enumerate(items) if label_of(it) != NONE_CLASS]
    not_work = [k for k, it in enumerate(items) if label_of(it) == NONE_CLASS]
    same_story: dict[str, list[int]] = defaultdict(list)
    for k in work:
        if tells_a_paired_story(items[k]):
            same_story[str(items[k].pair)].append(k)

    print("| variant | folds | share of training groups | QWK | within one | accuracy | pairs graded the same | not-work → insufficient | work stories → insufficient |")
    print("|---|---|---|---|---|---|---|---|---|")
    for (name, options), (how, folds), fraction in itertools.product(variants.items(), assignments.items(), args.fraction):
        outcome: dict[int, int | str] = {}
        for fit_rows, held_out in folds:
            fit_rows = keep_groups(list(fit_rows), groups, fraction, args.fraction_seed)  # all of them at 1
            fit = analysed.subset(fit_rows)
            model = model_from_artifact(train([items[k] for k in fit_rows], rubric, settings, analysed=fit, **options))
            # held-out stories centred by the centres of the training folds only
            for k, x in zip(held_out, feature_matrix(analysed.subset(held_out), model.centres)):
                p = model.predict(x, analysed.texts[k])
                outcome[k] = "insufficient" if p.level is None else p.level
        graded = [k for k in work if outcome[k] != "insufficient"]
        gold = [items[k].level for k in graded]
        pred = [outcome[k] for k in graded]
        pairs = [[outcome[k] for k in g] for g in same_story.values() if len(g) >= 2]
        agree = metrics.pair_agreement(pairs) or 0.0
        nw = sum(outcome[k] == "insufficient" for k in not_work)
        wn = len(work) - len(graded)
        print(
            f"| {name} | {how} | {fraction:g} | {metrics.qwk(gold, pred):.3f} | {metrics.within_one(gold, pred):.3f} | {metrics.accuracy(gold, pred):.3f} "
            f"| {round(agree * len(pairs))} of {len(pairs)} ({agree:.3f}) | {nw} of {len(not_work)} ({nw / len(not_work):.3f}) "
            f"| {wn} of {len(work)} ({wn / len(work):.3f}) |",
            flush=True,
        )


if __name__ == "__main__":
    main()
