"""The statistical part of triage: character n-gram TF-IDF and linear models over Chinese case text.

Trained in-process from the labelled corpus shipped in the repo (data/corpus.jsonl, train split only) plus
the corrections officers made (kept as labelled examples); nothing is downloaded. Training takes about a
second on one core; predicting one case takes about a millisecond. Combined with the organisation file's
duties (rules) in `domain.py`.
"""

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from services.triage.framing import matter_text
from services.triage.gazetteer import Gazetteer

ACCEPTED = "accepted"
# Regularisation of the linear models (inverse strength). Chosen by grouped cross-validation on the train split.
C_SCREENING = 10.0
C_DEPARTMENT = 30.0
C_COMPLEXITY = 10.0


@dataclass(frozen=True)
class Example:
    """One labelled case: the corpus's, or an officer's correction."""

    text: str
    screening: str
    department: str | None = None
    co_departments: tuple[str, ...] = ()
    complexity: str | None = None
    enterprise_name: str = ""
    region_hint: str | None = None
    region: str | None = None
    source: str = "corpus"


@dataclass(frozen=True)
class Scores:
    """Per-label probabilities of each field."""

    screening: dict[str, float]
    department: dict[str, float]
    complexity: dict[str, float]


def load_corpus(split: str | None = None) -> list[dict[str, Any]]:
    """The shipped corpus: every case, or those of one split ("train" or "dev")."""
    raw = resources.files("services.triage.data").joinpath("corpus.jsonl").read_text(encoding="utf-8")
    cases = [json.loads(line) for line in raw.splitlines() if line.strip()]
    return [c for c in cases if split is None or c["split"] == split]


def load_folded() -> list[dict[str, Any]]:
    """Independently written evaluation sets folded into training after they were scored (issue 16: "fold an old
    blind set into training only after it has been used for scoring"): data/folded.jsonl, each case with its
    `source` (set_a). Training only; the benchmark scores them as their own set."""
    path = resources.files("services.triage.data").joinpath("folded.jsonl")
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def example_of(case: dict[str, Any]) -> Example:
    label = case["label"]
    screening = ACCEPTED if label["screening"] == "duplicate" else label["screening"]  # a repeat is a real problem
    return Example(text=case["content"], screening=screening, department=label["department"],
                   co_departments=tuple(label["co_departments"] or ()), complexity=label["complexity"],
                   enterprise_name=case["enterprise"]["name"], region_hint=case["region_hint"],
                   region=label["region"])


# The most frequent character n-grams kept (seen at least twice): the department model's lbfgs fit holds about ten
# copies of its 25 x features coefficients, so the feature count sets the triage process's peak memory (all of
# ~39,000 n-grams took it to 544 MiB once the scored blind sets were folded in; the target is 500).
CHAR_FEATURES = 15000
RECENT_SCORES = 64


class CharsAndWords:
    """Character n-gram and word TF-IDF features side by side. What sklearn's FeatureUnion does, without its
    joblib dispatch on every transform (a sixth of triage's time per case under load, measured with py-spy)."""

    def __init__(self, chars: TfidfVectorizer, words: TfidfVectorizer):
        self.chars, self.words = chars, words

    def fit_transform(self, texts: list[str]) -> Any:
        return sparse.hstack([self.chars.fit_transform(texts), self.words.fit_transform(texts)], format="csr")

    def transform(self, texts: list[str]) -> Any:
        return sparse.hstack([self.chars.transform(texts), self.words.transform(texts)], format="csr")


def _vectorizer(segmenter: Any = None) -> TfidfVectorizer | CharsAndWords:
    """Character n-grams, and with a segmenter also its words (jieba with the catalogue's matters in its
    dictionary, so 食品生产许可证 is one feature shared by every wording that names it)."""
    chars = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True, min_df=2,
                            max_features=CHAR_FEATURES)
    if segmenter is None:
        return chars
    return CharsAndWords(chars, TfidfVectorizer(analyzer=segmenter.tokens, sublinear_tf=True, min_df=2))


def _linear(c: float, tol: float = 1e-4) -> LogisticRegression:
    return LogisticRegression(C=c, max_iter=2000, tol=tol, class_weight="balanced")


class TextModels:
    """The fitted models: one character n-gram vocabulary, one linear model per field. `scores` is pure."""

    def __init__(self, gazetteer: Gazetteer, segmenter: Any = None):
        self.gazetteer = gazetteer
        self.vectorizer = _vectorizer(segmenter)
        self.screening = _linear(C_SCREENING)
        # (a loose tolerance, 1e-2, stopped lbfgs before its first step: the model stayed uniform and the rules
        # alone chose the unit)
        self.department = _linear(C_DEPARTMENT)
        self.complexity = _linear(C_COMPLEXITY)
        self.fitted = False
        self.trained_on = 0
        self._recent: dict[str, Scores] = {}  # text -> its scores, the last RECENT_SCORES texts

    def prepare(self, text: str) -> str:
        """What the models see: the matter, with places masked (the region is the gazetteer's job) and without
        the channel's framing."""
        return matter_text(self.gazetteer.mask(text))

    def fit(self, examples: Iterable[Example]) -> "TextModels":
        examples = list(examples)
        self._recent.clear()
        matrix = self.vectorizer.fit_transform([self.prepare(e.text) for e in examples])
        self.screening.fit(matrix, [e.screening for e in examples])
        accepted = [i for i, e in enumerate(examples) if e.screening == ACCEPTED and e.department]
        self.department.fit(matrix[accepted], [examples[i].department for i in accepted])
        graded = [i for i in accepted if examples[i].complexity]
        self.complexity.fit(matrix[graded], [examples[i].complexity for i in graded])
        self.fitted, self.trained_on = True, len(examples)
        return self

    def scores(self, text: str) -> Scores:
        if not self.fitted:
            raise RuntimeError("models not fitted")
        known = self._recent.get(text)
        if known is not None:  # a case linked to an earlier one is proposed again with the link: same text
            return known
        if len(self._recent) >= RECENT_SCORES:
            self._recent.pop(next(iter(self._recent)))
        self._recent[text] = found = self._score(text)
        return found

    def _score(self, text: str) -> Scores:
        row = self.vectorizer.transform([self.prepare(text)])

        def probabilities(model: LogisticRegression) -> dict[str, float]:
            values = linear_probabilities(model, row)
            return {str(label): float(p) for label, p in zip(model.classes_, values, strict=True)}

        return Scores(screening=probabilities(self.screening), department=probabilities(self.department),
                      complexity=probabilities(self.complexity))


def linear_probabilities(model: LogisticRegression, row: Any) -> Any:
    """`model.predict_proba(row)[0]` for one sparse row, without sklearn's input checks on every call (a quarter
    of the time of scoring one case): the softmax of the linear scores (multinomial), or the logistic of the one
    score for two classes, as sklearn computes them."""
    scores = np.asarray(row @ model.coef_.T).ravel() + model.intercept_
    if len(model.classes_) == 2:
        positive = 1 / (1 + np.exp(-scores[0]))
        return np.array([1 - positive, positive])
    scores = np.exp(scores - scores.max())
    return scores / scores.sum()


def term_examples(words: Mapping[str, Iterable[str]]) -> list[Example]:
    """Each rule word as a tiny labelled document of its unit, so the classifier knows every unit's vocabulary
    even where the corpus has few cases of it."""
    return [Example(text=word, screening=ACCEPTED, department=code, source="rules")
            for code, table in words.items() for word in table]


def train(gazetteer: Gazetteer, words: Mapping[str, Iterable[str]] | None = None,
          extra: Iterable[Example] = (), segmenter: Any = None) -> TextModels:
    """Fit on the corpus's train split, the folded evaluation sets, the rule and catalogue words, and any extra
    examples (officers')."""
    examples = [example_of(c) for c in load_corpus("train") + load_folded()] + term_examples(words or {}) + list(extra)
    return TextModels(gazetteer, segmenter).fit(examples)
