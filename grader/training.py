"""Training the level model from labeled stories (evals/*.train.jsonl) and the split rule.

Split rule (fixed, documented in the README): key = the item's `pair` id if it has one, else
its `id`; bucket = first 8 hex digits of sha256(key) mod 100; buckets 0-59 -> train,
60-79 -> dev, 80-99 -> test. Pairs (translations, paraphrases, injection variants and their
base story) therefore never straddle splits. The test split is never used for fitting or tuning.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from grader.config import Settings
from grader.engines.local import LocalEngine
from grader.errors import BadInputError
from grader.eval_results import SAME_CONTENT_TAGS
from grader.features import LANGUAGES, Centres, feature_names, features_of, signal_names, signals, story_vector
from grader.model import DIGITS, Layer, artifact, level_inputs, sigmoid
from grader.ngrams import (
    ANALYZER, MAX_FEATURES, MIN_DF, NGRAM_C, NGRAM_RANGE, NgramLayer, ngram_targets, output_names, story_text,
)
from grader.rubric import entry_ids
from grader.types import EvalItem, Rubric

SEED = 20231613
NONE_CLASS = "none"
# inverse regularisation and thresholds, chosen on the dev split (README "Trained level model")
DETECT_C = 0.02
WORK_C = 0.1
LEVEL_C = 0.1
# consistency penalty of the indicator detectors (chosen by grouped 5-fold CV over train+dev):
# strength * mean over same-content pairs of (w . (z_a - z_b))^2, the pair scatter shrunk
# halfway to its diagonal (README "Trained level model")
CONSISTENCY = 5.0
CONSISTENCY_SHRINK = 0.5
# weight of the e5 block in the detectors relative to the behaviour signals (its standardised
# columns are multiplied by it, so the L2 penalty holds the e5 weights four times as tightly):
# the e5 block carries most of what differs between a story and its translation. Chosen by
# cross-validation over train+dev on four fold assignments (README "Trained level model")
E5_WEIGHT = 0.5
FOLDS = 5
SPLITS = ("train", "dev", "test")
# work 0.45 (was 0.5 before the e5 block was centred per language): cross-validation over train+dev
# on four fold assignments, README "Trained level model"
THRESHOLDS = {"met": 0.7, "partial": 0.3, "work": 0.45}


def split_of(item: EvalItem | dict[str, Any]) -> str:
    key = (item.get("pair") or item["id"]) if isinstance(item, dict) else (item.pair or item.id)
    bucket = int(hashlib.sha256(str(key).encode("utf-8")).hexdigest()[:8], 16) % 100
    return "train" if bucket < 60 else "dev" if bucket < 80 else "test"


def label_of(item: EvalItem) -> str | None:
    """'0'..'5', 'none' for not-work texts (expected_status insufficient_evidence), None if unlabeled."""
    if item.level is not None:
        return str(item.level)
    if (item.extras().get("expected_status") == "insufficient_evidence") or "not-work" in item.tags:
        return NONE_CLASS
    return None


def read_items(paths: Iterable[Path]) -> list[EvalItem]:
    """All items of the eval-set files, validated (a bad line names its file and line number)."""
    from grader.eval_items import iter_eval_items

    return list(iter_eval_items(list(paths)))


def write_splits(items: Sequence[EvalItem], out_dir: Path, stem: str, *, force: bool = False) -> dict[str, Path]:
    """Write `<stem>.train/dev/test.jsonl` in out_dir by the split rule, items sorted by id,
    one compact JSON line each (the item's own fields, nothing added). Returns the paths.
    Refuses (unless `force`) when an existing split file holds items that are not among `items`:
    writing would delete them (the usual mistake: splitting only a new file into evals/).
    Refuses unlabeled items (`label_of` is None: no level, not marked as a text that is not a work
    story), writing nothing: the split files are the labeled data, and training and the agreement
    figures pass over an unlabeled story without a word, so a forgotten label would go unnoticed."""
    if not re.fullmatch(r"[\w-][\w.-]*", stem):
        raise BadInputError(f"stem {stem!r} must be a plain file name (letters, digits, '.', '-', '_'), not a path")
    unlabeled = [it.id for it in items if label_of(it) is None]
    if unlabeled:
        shown = ", ".join(unlabeled[:20]) + (f" … and {len(unlabeled) - 20} more" if len(unlabeled) > 20 else "")
        raise BadInputError(
            f"{len(unlabeled)} item(s) have no label: {shown}. A split holds labeled stories only: give each a 'level' "
            "(0-5), or mark a text that is not a work story with \"expected_status\": \"insufficient_evidence\" or "
            "the tag 'not-work', or leave it out of the input; nothing was written"
        )
    paths = {s: out_dir / f"{stem}.{s}.jsonl" for s in SPLITS}
    if not force:
        given = {it.id for it in items}
        for path in (p for p in paths.values() if p.is_file()):
            kept = [it.id for it in read_items([path]) if it.id not in given]
            if kept:
                raise BadInputError(
                    f"{path} holds {len(kept)} item(s) that are not in the input files (e.g. {kept[0]}), and writing "
                    f"the split would delete them: pass the split files too (grader split {out_dir}/{stem}.*.jsonl NEW.jsonl), "
                    "or --force to replace them"
                )
    lines: dict[str, list[str]] = {s: [] for s in SPLITS}
    for it in sorted(items, key=lambda i: i.id):
        lines[split_of(it)].append(json.dumps(it.model_dump(mode="json", exclude_none=True), ensure_ascii=False))
    out_dir.mkdir(parents=True, exist_ok=True)
    for s, path in paths.items():
        path.write_text("".join(line + "\n" for line in lines[s]), encoding="utf-8")
    return paths


def data_hash(items: Sequence[EvalItem]) -> str:
    h = hashlib.sha256()
    for it in sorted(items, key=lambda i: i.id):
        h.update(json.dumps({"id": it.id, "text": it.text, "label": label_of(it)}, ensure_ascii=False, sort_keys=True).encode())
    return h.hexdigest()


@dataclass(frozen=True)
class Analysed:
    """What the model's features need of each story: its sentence vectors and their languages
    (the e5 block is centred per language by centres computed from the training stories), its
    behaviour signals (grader.features.signals) and the text the phrasing detectors read
    (grader.ngrams.story_text; None: no phrasing detectors)."""

    vectors: list[np.ndarray]
    langs: list[list[str]]
    signals: np.ndarray  # (n_items, n_signals)
    dim: int
    texts: list[str] | None = None
    spans: list[list[tuple[int, int]]] | None = None  # each kept sentence's (start, end) in the story

    def subset(self, rows: Sequence[int]) -> "Analysed":
        texts = None if self.texts is None else [self.texts[k] for k in rows]
        spans = None if self.spans is None else [self.spans[k] for k in rows]
        return Analysed([self.vectors[k] for k in rows], [self.langs[k] for k in rows], self.signals[list(rows)], self.dim, texts, spans)


def analyse_items(
    items: Sequence[EvalItem], rubric: Rubric, settings: Settings, progress: Callable[[int, int], None] | None = None
) -> Analysed:
    """Run the offline engine's analysis over each story (the slow part: one e5 pass each)."""
    engine = LocalEngine(settings)
    vectors, langs, rows, texts, spans = [], [], [], [], []
    for k, it in enumerate(items):
        a = engine.analyse(it.text, rubric)
        spans.append([(s.start, s.end) for s in a.sentences])
        vectors.append(np.asarray(a.vectors, dtype=np.float32))
        langs.append(list(a.langs))
        texts.append(story_text(a.sentences))
        rows.append(signals(rubric, a, engine.judge(it.text, a)))
        if progress:
            progress(k + 1, len(items))
    dim = len(a.story_vector) if items else 0
    return Analysed(vectors, langs, np.asarray(rows, dtype=np.float64).reshape(len(items), -1), dim, texts, spans)


def evidence_artifact(
    labeled: Sequence[EvalItem], analysed: Analysed, rubric: Rubric, indicator_ids: Sequence[str], probe: str | None,
) -> dict[str, Any]:
    """Fit the evidence matchers (grader.evidence_model) on the labeled items that carry
    `gold_evidence`, over the analysis the level model was trained on (`analyse_items`).
    `probe`: this machine's embedding probe. Returns the JSON artifact."""
    from grader.evidence_model import artifact as matcher_artifact
    from grader.evidence_model import evidence_hash, fit_matchers, gold_targets

    if analysed.spans is None or len(analysed.spans) != len(labeled):
        raise ValueError("the analysis has no sentence spans for these items: analyse them with analyse_items")
    stories, used = [], []
    for k, it in enumerate(labeled):
        gold = it.extras().get("gold_evidence")
        if gold:
            stories.append((analysed.vectors[k], gold_targets(it.text, analysed.spans[k], gold)))
            used.append((it.id, it.text, gold))
    coef, intercept, counts = fit_matchers(stories, indicator_ids, analysed.dim)
    meta = {
        "n_stories": len(used), "stories_per_indicator": counts, "data_hash": evidence_hash(used),
        "embedding_probe": probe, "trained_by": "grader train",
    }
    return matcher_artifact(rubric.id, rubric.version, indicator_ids, coef, intercept, meta)


PROBE_TEXTS = ("고객 인터뷰에서 근본 원인을 찾았습니다.", "We shipped the fix and tickets halved.")


def embedding_probe(settings: Settings) -> str | None:
    """Fingerprint of the e5 engine's arithmetic on this machine: the hash of two fixed sentences'
    vectors. The 4-bit engine's floats differ slightly between CPU models (about 1e-3 per
    dimension seen between two machines), which moves the features and the trained weights; a
    retrain reproduces the shipped file byte for byte only where this fingerprint matches.
    None with other embeddings than e5."""
    from grader.embeddings import make_embedder

    if settings.embeddings != "e5":
        return None
    vectors = np.asarray(make_embedder(settings).queries(list(PROBE_TEXTS)), dtype=np.float32)
    return hashlib.sha256(vectors.tobytes()).hexdigest()[:16]


def language_centres(analysed: Analysed) -> dict[str, np.ndarray]:
    """Per language, the mean of all training sentence vectors in it (a language with no
    training sentence gets the mean over all sentences), rounded as the artifact stores it."""
    every = [v for v in analysed.vectors if len(v)]
    if not every:
        return {}
    everything = np.vstack(every).astype(np.float64)
    flat_langs = np.asarray([lang for langs in analysed.langs for lang in langs])
    out = {}
    for lang in LANGUAGES:
        mine = everything[flat_langs == lang]
        out[lang] = np.round((mine if len(mine) else everything).mean(axis=0), DIGITS)
    return out


def feature_matrix(analysed: Analysed, centres: Centres | None) -> np.ndarray:
    """The model's input for each analysed story (grader.features.story_features), one row each."""
    return np.vstack([
        features_of(story_vector(v, langs, centres, analysed.dim), sig)
        for v, langs, sig in zip(analysed.vectors, analysed.langs, analysed.signals)
    ])


def _standardiser(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean = X.mean(axis=0)
    scale = X.std(axis=0)
    return mean, np.where(scale > 1e-9, scale, 1.0)


def _logistic(Z: np.ndarray, y: Sequence[int], c: float, seed: int) -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=c, class_weight="balanced", max_iter=5000, random_state=seed).fit(Z, y)


def tells_a_paired_story(item: EvalItem) -> bool:
    """Member of a translation or paraphrase pair (not of an injection variant's group)."""
    return bool(item.pair) and any(t in item.tags for t in SAME_CONTENT_TAGS)


def same_content_pairs(items: Sequence[EvalItem]) -> list[tuple[int, int]]:
    """Row pairs (i, j) of items that tell the same story: members of one translation or
    paraphrase pair, each member after the first paired with the first."""
    first: dict[str, int] = {}
    out = []
    for k, it in enumerate(items):
        if tells_a_paired_story(it):
            if it.pair in first:
                out.append((first[it.pair], k))
            else:
                first[it.pair] = k
    return out


def consistency_transform(Z: np.ndarray, pairs: Sequence[tuple[int, int]], strength: float) -> np.ndarray | None:
    """T = (I + strength * S)^(-1/2), S = the scatter of the pair differences of the standardised
    rows Z (shrunk halfway to its diagonal). An L2-penalised logistic regression on Z @ T with
    coefficients v has coefficients w = T v on Z and penalty |w|^2 + strength * w' S w: it is
    discouraged from weights that score two tellings of one story differently. None without
    pairs or strength: no penalty, no transform."""
    from threadpoolctl import threadpool_limits

    if not pairs or strength <= 0:
        return None
    n = Z.shape[1]
    # one BLAS thread and rounding: the same bytes whatever the number of cores
    with threadpool_limits(limits=1):
        diffs = np.vstack([Z[i] - Z[j] for i, j in pairs])
        S = diffs.T @ diffs / len(pairs)
        S = (1 - CONSISTENCY_SHRINK) * S + CONSISTENCY_SHRINK * np.diag(np.diag(S))
        values, vectors = np.linalg.eigh(np.eye(n) + strength * S)
        return np.round((vectors / np.sqrt(values)) @ vectors.T, DIGITS)


def fit_binary(
    X: np.ndarray, Y: np.ndarray, c: float, seed: int = SEED,
    pairs: Sequence[tuple[int, int]] = (), consistency: float = 0.0, weights: np.ndarray | None = None,
) -> Layer:
    """One logistic score per column of Y (0/1) over standardised X. A column with fewer than
    two positives or negatives gets a score that never fires. With `pairs` (rows telling the
    same story) and `consistency` > 0 the scores are also kept alike within those pairs.
    `weights`: per column, multiplies the standardised column (folded into the stored scale, so
    the layer is used as any other); a weight below 1 penalises that column's coefficient more."""
    mean, scale = _standardiser(X)
    if weights is not None:
        scale = scale / np.asarray(weights, dtype=np.float64)
    Z = (X - mean) / scale
    T = consistency_transform(Z, pairs, consistency)
    if T is None:
        coef, intercept = _fit_columns(Z, Y, c, seed)
    else:  # weights on Z @ T mapped back to weights on Z
        coef, intercept = _fit_columns(np.round(Z @ T, DIGITS), Y, c, seed, lambda w: T @ w)
    return Layer(mean, scale, coef, intercept)


def _fit_columns(
    Z: Any, Y: np.ndarray, c: float, seed: int, to_coef: Callable[[np.ndarray], np.ndarray] = lambda w: w
) -> tuple[np.ndarray, np.ndarray]:
    """(coef, intercept): one balanced logistic regression per column of Y over the rows Z (dense
    or sparse); a column with fewer than two positives or negatives gets a score that never fires."""
    coef = np.zeros((Y.shape[1], Z.shape[1]))
    intercept = np.full(Y.shape[1], -10.0)
    for k in range(Y.shape[1]):
        y = Y[:, k].astype(int)
        if min(y.sum(), len(y) - y.sum()) >= 2:
            clf = _logistic(Z, y, c, seed)
            coef[k], intercept[k] = to_coef(clf.coef_[0]), clf.intercept_[0]
    return coef, intercept


def fit_multinomial(X: np.ndarray, y: Sequence[int], n_classes: int, c: float, seed: int = SEED) -> Layer:
    missing = sorted(set(range(n_classes)) - set(y))
    if missing:
        raise BadInputError(f"the training data has no story at level(s) {missing}: every level needs examples")
    mean, scale = _standardiser(X)
    clf = _logistic((X - mean) / scale, list(y), c, seed)
    return Layer(mean, scale, clf.coef_, clf.intercept_)


def crossfit_probabilities(
    X: np.ndarray, Y: np.ndarray, groups: Sequence[str], c: float, seed: int = SEED,
    pairs: Sequence[tuple[int, int]] = (), consistency: float = 0.0, weights: np.ndarray | None = None,
) -> np.ndarray:
    """Out-of-fold detector probabilities (folds by pair group), so the level layer learns from
    probabilities like the ones it will see on new stories, not from memorised ones."""
    def scores(fit_rows: np.ndarray, held_out: np.ndarray) -> np.ndarray:
        where = {int(r): k for k, r in enumerate(fit_rows)}
        inside = [(where[i], where[j]) for i, j in pairs if i in where and j in where]
        return fit_binary(X[fit_rows], Y[fit_rows], c, seed, inside, consistency, weights).logits(X[held_out])

    return _out_of_fold(Y.shape, groups, scores)


def _out_of_fold(
    shape: tuple[int, ...], groups: Sequence[str], logits: Callable[[np.ndarray, np.ndarray], np.ndarray]
) -> np.ndarray:
    """Probabilities of each row from a fit on the folds without it (FOLDS folds grouped by pair):
    `logits(fit_rows, held_out)` fits on the first rows and scores the second."""
    from sklearn.model_selection import GroupKFold

    P = np.zeros(shape)
    for fit_rows, held_out in GroupKFold(n_splits=FOLDS).split(np.zeros(shape[0]), groups=list(groups)):
        P[held_out] = sigmoid(logits(fit_rows, held_out))
    return P


def fit_ngrams(texts: Sequence[str], Y: np.ndarray, outputs: Sequence[str], c: float = NGRAM_C, seed: int = SEED) -> NgramLayer:
    """The phrasing detectors (grader.ngrams): fit the TF-IDF vocabulary on the texts and one
    logistic score per column of Y. Idf and weights are rounded, so a refit gives the same bytes."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    vec = TfidfVectorizer(analyzer=ANALYZER, ngram_range=NGRAM_RANGE, min_df=MIN_DF, max_features=MAX_FEATURES, sublinear_tf=True)
    A = vec.fit_transform(list(texts))
    coef, intercept = _fit_columns(A, Y, c, seed)
    vocabulary = tuple(str(t) for t in vec.get_feature_names_out())  # column order of A
    r = lambda a: np.round(a, DIGITS)  # noqa: E731
    return NgramLayer(tuple(outputs), vocabulary, r(vec.idf_), r(coef), r(intercept))


def crossfit_ngrams(
    texts: Sequence[str], Y: np.ndarray, groups: Sequence[str], outputs: Sequence[str], c: float = NGRAM_C, seed: int = SEED
) -> np.ndarray:
    """Out-of-fold phrasing-detector probabilities (vocabulary refitted in each fold), so the
    level layer learns from scores like the ones it will see on new stories."""
    texts = list(texts)

    def scores(fit_rows: np.ndarray, held_out: np.ndarray) -> np.ndarray:
        layer = fit_ngrams([texts[k] for k in fit_rows], Y[fit_rows], outputs, c, seed)
        return layer.logits([texts[k] for k in held_out])

    return _out_of_fold(Y.shape, groups, scores)


def indicator_targets(items: Sequence[EvalItem], rubric: Rubric) -> np.ndarray:
    """(n_items, n_indicators) 0/1: which indicators each story's gold label names (principle
    ids may be named too; they are not detected)."""
    ids = [i.id for i in rubric.indicators()]
    unknown = sorted({i for it in items for i in it.indicators} - entry_ids(rubric))
    if unknown:
        raise BadInputError(f"the training data names ids that rubric {rubric.id} does not have: {', '.join(unknown[:5])}")
    return np.asarray([[i in it.indicators for i in ids] for it in items], dtype=np.int64)


def train(
    items: Sequence[EvalItem], rubric: Rubric, settings: Settings, *, seed: int = SEED,
    progress: Callable[[int, int], None] | None = None, X: np.ndarray | None = None,
    analysed: Analysed | None = None, consistency: float = CONSISTENCY, e5_weight: float = E5_WEIGHT,
    texts: Sequence[str] | None = None, ngrams: bool = True,
) -> dict[str, Any]:
    """Fit the four layers of the level model on labeled items; returns the JSON artifact.
    `analysed`: the labeled items already analysed (analyse_items), else they are analysed here;
    the language centres are computed from them. `X`: ready features instead (no centring: for
    tests on made-up features). `consistency`: the detectors' pair penalty (0 turns it off;
    bench/cv_level_model.py compares both). `e5_weight`: the detectors' weight of the e5 block
    (1 gives it the same penalty as the behaviour signals). The phrasing detectors read the
    analysed texts (or `texts`, with `X`); `ngrams=False` or no texts leaves them out."""
    labeled = [it for it in items if label_of(it) is not None]
    centres: dict[str, np.ndarray] = {}
    probe = None
    if X is None:
        probe = embedding_probe(settings)
        analysed = analysed if analysed is not None else analyse_items(labeled, rubric, settings, progress)
        if len(analysed.vectors) != len(labeled):
            raise ValueError(f"{len(analysed.vectors)} analysed stories for {len(labeled)} labeled items")
        centres = language_centres(analysed)
        X = feature_matrix(analysed, centres)
        texts = analysed.texts
    if texts is not None and len(texts) != len(labeled):
        raise ValueError(f"{len(texts)} texts for {len(labeled)} labeled items")
    dim = X.shape[1] - len(signal_names(rubric))
    ids = [i.id for i in rubric.indicators()]
    Y = indicator_targets(labeled, rubric)
    groups = [it.pair or it.id for it in labeled]
    pairs = same_content_pairs(labeled)
    weights = np.concatenate([np.full(dim, e5_weight), np.ones(X.shape[1] - dim)])
    detect = fit_binary(X, Y, DETECT_C, seed, pairs, consistency, weights)
    is_work = np.asarray([[label_of(it) != NONE_CLASS] for it in labeled], dtype=np.int64)
    work = fit_binary(X, is_work, WORK_C, seed)
    P = crossfit_probabilities(X, Y, groups, DETECT_C, seed, pairs, consistency, weights)
    rows = [k for k, it in enumerate(labeled) if label_of(it) != NONE_CLASS]
    L = np.vstack([level_inputs(P[k], ids, rubric.max_level) for k in rows])
    ngram = None
    if ngrams and texts is not None:
        names = output_names(ids, rubric.max_level)
        Yn = ngram_targets(Y, [it.level for it in labeled], rubric.max_level)
        ngram = fit_ngrams(texts, Yn, names, seed=seed)
        L = np.hstack([L, crossfit_ngrams(texts, Yn, groups, names, seed=seed)[rows]])
    level = fit_multinomial(L, [int(label_of(labeled[k]) or 0) for k in rows], rubric.max_level + 1, LEVEL_C, seed)
    meta = {
        "model": "logistic regressions (scikit-learn): indicator detectors, work detector, phrasing detectors, level layer",
        "C": {"detect": DETECT_C, "work": WORK_C, "level": LEVEL_C, "ngram": NGRAM_C}, "seed": seed, "folds": FOLDS,
        "consistency": {"strength": consistency, "shrink": CONSISTENCY_SHRINK, "pairs": len(pairs)},
        "e5_weight": {"detect": e5_weight, "work": 1.0},
        "class_weight": "balanced", "n_train": len(labeled), "data_hash": data_hash(labeled), "trained_by": "grader train",
        "embedding_probe": probe,
    }
    return artifact(rubric, feature_names(rubric, dim), dim, detect, work, level, dict(THRESHOLDS), meta, centres, ngram)


def dump(art: dict[str, Any]) -> str:
    return json.dumps(art, ensure_ascii=False, indent=0, sort_keys=True) + "\n"


# the parts of an artifact computed from e5 vectors: the level model's layers, and the evidence
# matchers' weights
E5_DERIVED = ("centres", "detect", "work", "level", "coef", "intercept")
E5_TOLERANCE = 0.15  # largest relative difference of an e5-derived row allowed between two CPU kinds


def _rows(x: Any, path: str) -> Iterable[tuple[str, Any]]:
    """(path, leaf) pairs of a JSON value; a list of numbers is one leaf (a row)."""
    if isinstance(x, dict):
        for k in sorted(x):
            yield from _rows(x[k], f"{path}/{k}")
    elif isinstance(x, list) and x and isinstance(x[0], (dict, list)):
        for k, v in enumerate(x):
            yield from _rows(v, f"{path}[{k}]")
    else:
        yield path, x


def compare_up_to_e5(shipped: dict[str, Any], art: dict[str, Any], tolerance: float = E5_TOLERANCE) -> tuple[list[str], float]:
    """Compare a retrained artifact with the shipped one where their e5 arithmetic differs (another
    CPU kind): every part that does not read e5 vectors (data hash, rubric, hyper-parameters,
    feature names, the phrasing detectors …) must be equal; the e5-derived layers (`E5_DERIVED`)
    must have the same shapes and each row of numbers may differ by at most `tolerance`, relative
    (‖a − b‖ / ‖a‖). Returns the differences found (empty: the same model up to e5's floats) and
    the largest relative difference of an e5-derived row."""
    a = dict(_rows({k: v for k, v in shipped.items() if k != "embedding_probe"}, ""))
    b = dict(_rows({k: v for k, v in art.items() if k != "embedding_probe"}, ""))
    problems = [f"{p}: only in the {'shipped' if p in a else 'retrained'} model" for p in sorted(a.keys() ^ b.keys())]
    largest = 0.0
    for p in sorted(a.keys() & b.keys()):
        x, y = a[p], b[p]
        if x == y:
            continue
        numeric = isinstance(x, list) and isinstance(y, list) and all(isinstance(v, (int, float)) for v in [*x, *y])
        if p.split("/")[1].split("[")[0] not in E5_DERIVED or not numeric or len(x) != len(y):
            problems.append(f"{p}: differs")
            continue
        u, v = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
        rel = float(np.linalg.norm(u - v) / (np.linalg.norm(u) or 1.0))
        largest = max(largest, rel)
        if rel > tolerance:
            problems.append(f"{p}: differs by {rel:.1%} (more than {tolerance:.0%})")
    return problems, largest
