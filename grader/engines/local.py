"""The offline engine: deterministic, CPU-only, no API key.

Story sentences are embedded once (e5, "query: " prefix) and compared with the rubric's
indicators stored in the index; rubric cue patterns recognise behaviour per sentence. Each
indicator gets a status with its evidence sentences, the level follows from the indicators
(grader.levels), or from the trained level model when one ships for the rubric, with the
rule's level kept beside it.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field

import numpy as np

from grader.config import Settings
from grader.engines.base import Engine
from grader.evidence_model import usable_matchers
from grader.errors import IndexError_
from grader.evidence import Sentence, detect_language, reads_as_korean_or_english, split_sentences
from grader.features import centred, story_features
from grader.ngrams import story_text
from grader.feedback import warning, write_feedback
from grader.index import Index, ensure_index
from grader.levels import combine_confidence, level_of, mixed_signals, rule_level, split_levels
from grader.model import LevelModel, Prediction, usable_model
from grader.signals import (
    MARKUP, MARKUP_MIN, CompiledCues, affirmed_hits, compiled_cues, cue_denials, cue_matrix, sentence_flags,
    separate_directives,
)
from grader.types import Citation, EngineInfo, Evidence, Grade, IndicatorJudgment, Rubric, RubricRef, Usage

SIM_PARTIAL = 0.045  # similarity above the sentence's mean over indicators that alone counts as partial
MAX_EVIDENCE = 2
# weights of evidence_rank: a logistic fit on the dev split's gold evidence sentences, rounded
# (README "Evidence sentences"; checked on the held-out short stories)
# and of the evidence matchers (grader.evidence_model), chosen on dev among 1, 2, 3 and 5
EVIDENCE_WEIGHTS = {"detector": 0.25, "phrasing": 0.3, "meaning": 0.27, "length": 0.55, "opening": -1.0, "matcher": 3.0}
REPEAT_MIN_WORDS = 3  # a repeated sentence this long or longer counts once (drop_repeats)
MIN_WORDS = 5  # fewer words than this (ㅋㅋㅋ, one-letter words, symbols, numbers and markup don't count): nothing to grade
_MARKUP = re.compile(r"<[^>]*>")
_WORD = re.compile(r"[A-Za-z]{2,}|[가-힣]+")


def _word_count(text: str) -> int:
    """Words once HTML-like markup is removed (ㅋㅋ, one-letter words such as "I", symbols and
    numbers are not words)."""
    return len(_WORD.findall(_MARKUP.sub(" ", text)))


def _claimed(judgments: list[IndicatorJudgment], level: int | None) -> list[IndicatorJudgment]:
    """The judgments as the Grade claims them. No level: no indicator is claimed as shown. Beside
    a higher level, a shortfall indicator (LV.0 indifference, LV.1 "knows but does not act") is
    claimed only when met. Partly met there it is mostly customer feedback the writer then acted
    on ("patients kept missing appointments, so I called them"): in cross-validation over
    train+dev a partly met LV.0 appeared beside 227 of 466 positive levels, and only 13% of those
    stories were LV.0 by their gold label; a partly met LV.1 beside 164 of 457 levels of 2 or
    more, and only 15 of those stories name an LV.1 indicator in their gold label."""
    def unclaimed(j: IndicatorJudgment) -> bool:
        if level is None:
            return j.status in ("met", "partial")
        return j.status == "partial" and level_of(j.id) <= 1 and level > level_of(j.id)

    return [j.model_copy(update={"status": "no_evidence", "evidence": [], "note": ""}) if unclaimed(j) else j for j in judgments]


def _wordy(text: str) -> bool:
    return _word_count(text) >= 3


def _z(v: np.ndarray) -> np.ndarray:
    sd = float(v.std())
    return (v - v.mean()) / sd if sd > 0 else np.zeros_like(v, dtype=np.float64)


def evidence_rank(
    detector: np.ndarray, phrasing: np.ndarray | None, rel: np.ndarray, lengths: list[int], matcher: np.ndarray | None = None,
) -> np.ndarray:
    """One number per sentence, higher = better evidence of an indicator the detectors found.
    Each signal is standardised within the story, then weighted (EVIDENCE_WEIGHTS): the e5
    detector's push from that sentence, the phrasing detector on the sentence alone, closeness
    in meaning to the indicator's text, length (log characters) and, with the shipped evidence
    matchers, their score (the strongest); the story's opening sentence (a title or greeting,
    more often than not) is held back."""
    w = EVIDENCE_WEIGHTS
    n = len(detector)
    rank = w["detector"] * _z(np.asarray(detector, dtype=np.float64)) + w["meaning"] * _z(np.asarray(rel, dtype=np.float64))
    rank += w["length"] * _z(np.log1p(np.asarray(lengths, dtype=np.float64)))
    if phrasing is not None:
        rank += w["phrasing"] * _z(np.asarray(phrasing, dtype=np.float64))
    if matcher is not None:
        rank += w["matcher"] * _z(np.asarray(matcher, dtype=np.float64))
    if n > 1:
        rank[0] += w["opening"]
    return rank


@dataclass
class Analysis:
    """Everything the engine computed for one story (also the input of the level model)."""

    sentences: list[Sentence]
    sim: np.ndarray  # (n_sent, n_ind) cosine similarity, max over languages
    rel: np.ndarray  # sim minus each sentence's mean over indicators
    cues: np.ndarray  # (n_sent, n_ind) cue pattern hits
    denied: np.ndarray  # (n_sent, n_ind) a negation outside the cue's own words (signals.cue_denials)
    flags: dict[str, np.ndarray]
    story_vector: np.ndarray  # mean of sentence vectors, normalised (for retrieval; the model centres them first)
    vectors: np.ndarray  # (n_sent, dim) sentence embeddings
    langs: list[str]  # each sentence's language (grader.evidence.detect_language)
    compiled: CompiledCues
    set_aside: list[Sentence]  # sentences addressed to the grader, not used as evidence
    repeated: list[Sentence] = field(default_factory=list)  # repeats of an earlier sentence, counted once


def drop_repeats(sentences: list[Sentence]) -> tuple[list[Sentence], list[Sentence]]:
    """(kept, repeated): a sentence of REPEAT_MIN_WORDS words or more that repeats an earlier one
    (same words, case and spacing aside) counts once, so pasting a story twice, or padding it with
    copies, does not move its level; short repeats ("네.", "Thanks.") stay as written."""
    seen: set[str] = set()
    kept: list[Sentence] = []
    repeated: list[Sentence] = []
    for s in sentences:
        key = " ".join(s.text.split()).casefold()
        if len(key.split()) >= REPEAT_MIN_WORDS and key in seen:
            repeated.append(s)
        else:
            seen.add(key)
            kept.append(s)
    return kept, repeated


class LocalEngine(Engine):
    name = "local"

    def __init__(self, settings: Settings, index: Index | None = None) -> None:
        self.settings = settings
        self._index = index
        self._vectors: dict[str, np.ndarray] = {}
        self._lock = threading.Lock()

    def info_for(self, model: LevelModel | None) -> EngineInfo:
        """Names the level model when one set the level, else the indicator rule."""
        return EngineInfo(name=self.name, model=model.version if model is not None else "indicator rule", prompt_version=None)

    def preflight(self, rubric: Rubric) -> EngineInfo:
        """Opens the index (IndexError_ when it is missing or built with another embedding model)
        and names what will set the levels of this rubric: the level model ("level-model <hash>",
        as every grade carries it) or the indicator rule."""
        dim = self._indicator_matrix(rubric, compiled_cues(rubric).ids).shape[-1]
        return self.info_for(usable_model(rubric, dim))

    @property
    def index(self) -> Index:
        if self._index is None:
            self._index = ensure_index(self.settings)
        return self._index

    def _indicator_matrix(self, rubric: Rubric, ids: tuple[str, ...]) -> np.ndarray:
        key = f"{rubric.id}@{rubric.version}"
        with self._lock:
            if key not in self._vectors:
                vecs = self.index.indicator_vectors(rubric.id)
                missing = [i for i in ids if i not in vecs]
                if missing:
                    raise IndexError_(
                        f"the index has no entries for {', '.join(missing[:3])} of rubric {rubric.id}: run `grader index`"
                    )
                self._vectors[key] = np.stack([vecs[i] for i in ids])  # (n_ind, n_lang, dim)
            return self._vectors[key]

    def analyse(self, story: str, rubric: Rubric) -> Analysis:
        compiled = compiled_cues(rubric)
        sentences, set_aside = separate_directives(story, split_sentences(story))
        sentences, repeated = drop_repeats(sentences)
        ind = self._indicator_matrix(rubric, compiled.ids)
        if sentences:
            vec = self.index.embedder.queries([s.text for s in sentences])
            sim = np.einsum("sd,ild->sil", vec, ind).max(axis=2)
            mean = vec.mean(axis=0)
            story_vector = mean / (np.linalg.norm(mean) or 1.0)
        else:
            sim = np.zeros((0, len(compiled.ids)), dtype=np.float32)
            story_vector = np.zeros(ind.shape[-1], dtype=np.float32)
            vec = np.zeros((0, ind.shape[-1]), dtype=np.float32)
        rel = sim - sim.mean(axis=1, keepdims=True) if len(sentences) else sim
        flags = sentence_flags(sentences)
        return Analysis(
            sentences, sim, rel, cue_matrix(sentences, compiled), cue_denials(sentences, compiled, flags["negated"]), flags,
            story_vector, vec, [detect_language(s.text) for s in sentences], compiled, set_aside, repeated,
        )

    def judge(self, story: str, a: Analysis) -> list[IndicatorJudgment]:
        out: list[IndicatorJudgment] = []
        for i, ident in enumerate(a.compiled.ids):
            lv = int(a.compiled.levels[i])
            hits = np.flatnonzero(a.cues[:, i])
            affirmed = affirmed_hits(a.cues[:, i], a.denied[:, i], lv)
            denied = [j for j in hits if j not in affirmed]
            status, chosen, note = "no_evidence", [], ""
            if affirmed:
                chosen = sorted(affirmed, key=lambda j: (-a.cues[j, i], -a.rel[j, i]))[:MAX_EVIDENCE]
                strong = len(affirmed) >= 2 or a.rel[chosen[0], i] >= 0 or a.cues[chosen[0], i] >= 2
                status = "met" if strong else "partial"
                note = "behaviour cue" + (" in several sentences" if len(affirmed) > 1 else "")
            elif denied:
                status, chosen, note = "not_met", denied[:1], "the story says this was not done"
            elif len(a.sentences) and lv > 0:
                j = int(np.argmax(a.rel[:, i]))
                if a.rel[j, i] >= SIM_PARTIAL and not a.denied[j, i]:
                    status, chosen, note = "partial", [j], "close in meaning, no explicit behaviour cue"
            evidence = [self._evidence(story, a.sentences[j]) for j in chosen]
            score = float(a.sim[chosen[0], i]) if chosen else 0.0
            out.append(IndicatorJudgment(id=ident, status=status, evidence=evidence, note=note, score=round(score, 4)))
        return out

    def _citations(self, rubric: Rubric, judgments: list[IndicatorJudgment], a: Analysis, lang: str) -> list[Citation]:
        src = rubric.source.title
        cites = [
            Citation(
                id=j.id, kind="indicator", source=src, text=rubric.indicator(j.id).text.get(lang),
                location=f"{rubric.id} v{rubric.version}, LV.{level_of(j.id)}", score=j.score,
            )
            for j in sorted(judgments, key=lambda j: -level_of(j.id))
            if j.status in ("met", "partial")
        ]
        if a.sentences:
            hits = self.index.search(None, k=2, kinds=["principle"], rubric_id=rubric.id, vector=a.story_vector)
            hits += self.index.search(None, k=3, kinds=["passage"], vector=a.story_vector)
            principles = {p.id: p for p in rubric.principles}
            for h in hits:
                c = h.citation()
                if h.kind == "principle" and h.id in principles:
                    c.text = principles[h.id].text.get(lang)
                cites.append(c)
        return cites

    def judge_with_model(self, story: str, a: Analysis, cue_judgments: list[IndicatorJudgment], model: LevelModel, p: Prediction) -> list[IndicatorJudgment]:
        """Indicator statuses from the trained detectors. Evidence: the sentences with the
        behaviour cue when there is one, else the best sentences by `evidence_rank`."""
        vectors = centred(a.vectors, a.langs, model.centres)
        scores = model.sentence_scores(vectors)
        # each sentence on its own through the phrasing detectors (one TF-IDF row per sentence)
        phrasing = model.ngram.logits([s.text for s in a.sentences]) if model.ngram is not None and len(a.sentences) else None
        matchers = usable_matchers(model)
        matched = matchers.scores(a.vectors) if matchers is not None else None
        by_id = {j.id: j for j in cue_judgments}
        out: list[IndicatorJudgment] = []
        for i, ident in enumerate(model.indicator_ids):
            prob = p.indicator_probabilities[ident]
            cue = by_id[ident]
            if prob >= model.met_at:
                status = "met"
            elif prob >= model.partial_at:
                status = "partial"
            else:
                status = "not_met" if cue.status == "not_met" else "no_evidence"
            if status in ("met", "partial") and cue.status in ("met", "partial"):
                evidence, note = cue.evidence, f"{cue.note}; detector {prob:.2f}"
            elif status in ("met", "partial") and len(a.sentences):
                said = phrasing[:, model.ngram.outputs.index(ident)] if phrasing is not None and model.ngram is not None else None
                top = self._model_evidence(scores[:, i], said, a.rel[:, i], a.sentences, matched[:, i] if matched is not None else None)
                evidence = [self._evidence(story, a.sentences[j]) for j in top]
                note = f"detector {prob:.2f}: the sentences that show it best by the detectors"
            elif status == "not_met":
                evidence, note = cue.evidence, cue.note
            else:  # nothing to quote (no sentence left once text addressed to the grader is set aside)
                status, evidence, note = "no_evidence", [], ""
            out.append(IndicatorJudgment(id=ident, status=status, evidence=evidence, note=note, score=round(prob, 4)))
        return out

    @staticmethod
    def _model_evidence(
        detector: np.ndarray, phrasing: np.ndarray | None, rel: np.ndarray, sentences: list[Sentence], matcher: np.ndarray | None = None,
    ) -> list[int]:
        """The sentences to quote for an indicator the detectors (not a cue) found: ranked by
        `evidence_rank` among those with some words once markup is removed (so markup that
        happens to score is not shown as evidence)."""
        rank = evidence_rank(detector, phrasing, rel, [len(s.text) for s in sentences], matcher)
        order = [int(j) for j in np.argsort(-rank, kind="stable")]
        return [j for j in order if _wordy(sentences[j].text)][:MAX_EVIDENCE] or order[:1]

    @staticmethod
    def _evidence(story: str, s: Sentence) -> Evidence:
        return Evidence(quote=story[s.start : s.end], start=s.start, end=s.end)

    def grade(self, story: str, rubric: Rubric, *, language: str) -> Grade:
        started = time.perf_counter()
        lang = "ko" if language == "ko" else "en"
        a = self.analyse(story, rubric)
        judgments = self.judge(story, a)
        model = usable_model(rubric, len(a.story_vector))
        prediction = None
        if model is not None:
            prediction = model.predict(story_features(rubric, a, judgments, model.centres), story_text(a.sentences))
            judgments = self.judge_with_model(story, a, judgments, model, prediction)
        statuses = {j.id: j.status for j in judgments}
        rule = rule_level(statuses, rubric.max_level)
        level = prediction.level if prediction is not None else rule
        n_words = sum(_word_count(s.text) for s in a.sentences)
        other_language = bool(a.sentences) and not reads_as_korean_or_english(" ".join(s.text for s in a.sentences))
        too_few_words = n_words < MIN_WORDS and not other_language
        if too_few_words or other_language:
            level = None
        status = "graded" if level is not None else "insufficient_evidence"
        judgments = _claimed(judgments, level)
        if prediction is not None and level is not None:
            confidence = combine_confidence(prediction.confidence, rule, level)
        elif level is not None:
            n_met = sum(1 for i, s in statuses.items() if s == "met" and level_of(i) == level)
            confidence = min(0.85, 0.35 + 0.15 * n_met)
        else:
            confidence = 0.0
        warnings = []
        if other_language:
            warnings.append(warning("other_language", lang))
        if too_few_words:
            warnings.append(warning("too_few_words_aside" if a.set_aside else "too_few_words", lang, n=n_words))
        as_customer = [s for s, c in zip(a.sentences, a.flags["customer"]) if c]
        turned_away = level is None and not too_few_words and not other_language  # by the work detector
        if turned_away and as_customer and not a.flags["provider"].any():
            warnings.append(warning("as_customer", lang, [s.text for s in as_customer], shown=2))
        if turned_away and len(MARKUP.findall(story)) >= MARKUP_MIN:
            warnings.append(warning("markup", lang))
        if a.set_aside:
            warnings.append(warning("set_aside", lang, [s.text for s in a.set_aside], n=len(a.set_aside)))
        if a.repeated:
            warnings.append(warning("repeated", lang, n=len(a.repeated)))
        if mixed_signals({j.id: j.status for j in judgments}, level):
            confidence *= 0.85
            warnings.append(warning("mixed", lang))
        shares = prediction.distribution if prediction is not None and level is not None else None
        split = split_levels(shares)
        if split is not None and shares is not None:  # two far-apart levels: say so, a coach should look
            low, high = split
            warnings.append(warning("split", lang, low=low, high=high, p_low=f"{shares[low]:.0%}", p_high=f"{shares[high]:.0%}"))
        return Grade(
            rubric=RubricRef(id=rubric.id, version=rubric.version),
            status=status,
            level=level,
            level_name=rubric.level_name(level, lang) if level is not None else None,
            confidence=round(float(confidence), 4),
            distribution=prediction.distribution if prediction is not None and level is not None else None,
            indicators=judgments,
            citations=self._citations(rubric, judgments, a, lang) if level is not None else [],
            feedback=write_feedback(rubric, judgments, level, lang),
            language=lang,
            engine=self.info_for(model),
            usage=Usage(latency_ms=round((time.perf_counter() - started) * 1000, 1)),
            rule_level=rule,
            model_level=prediction.level if prediction is not None else None,
            warnings=warnings,
        )
