"""Text similarity for 举一反三, pure: TF-IDF over character n-grams (Chinese has no spaces) and cosine.

- `group_texts`: common problem groups = connected components of the graph "cosine >= threshold".
- `search`: the entries most like a query (the case library).
"""

from dataclasses import dataclass

import numpy as np
from scipy.sparse.csgraph import connected_components
from scipy.sparse import csr_matrix, vstack
from sklearn.feature_extraction.text import TfidfVectorizer


def _vectorizer(max_df: float = 1.0) -> TfidfVectorizer:
    # Character 2- and 3-grams carry Chinese words; sublinear tf keeps a repeated phrase from dominating.
    return TfidfVectorizer(analyzer="char", ngram_range=(2, 3), sublinear_tf=True, max_df=max_df, min_df=1,
                           dtype=np.float32)


@dataclass(frozen=True)
class Group:
    members: list[int]  # indexes into the texts, most central first
    keywords: list[str]


def group_texts(texts: list[str], threshold: float, chunk: int = 512, neighbours: int = 10) -> list[Group]:
    """Groups of at least two texts that are alike (cosine of TF-IDF vectors >= threshold), largest first."""
    if len(texts) < 2:
        return []
    # n-grams found in more than half the texts ("公司", "我们") say nothing about the problem.
    vectorizer = _vectorizer(max_df=0.5 if len(texts) >= 20 else 1.0)
    try:
        matrix = vectorizer.fit_transform(texts)
    except ValueError:  # no n-gram left (empty or one-character texts)
        return []
    n = matrix.shape[0]
    rows = []
    for start in range(0, n, chunk):
        block = (matrix[start:start + chunk] @ matrix.T).toarray()
        block[block < threshold] = 0
        # Keep each text's `neighbours` nearest only: enough to connect a group, and the graph stays small
        # when thousands of cases tell the same story.
        if n > neighbours:
            weakest = np.argpartition(-block, neighbours, axis=1)[:, neighbours:]
            np.put_along_axis(block, weakest, 0, axis=1)
        rows.append(csr_matrix(block))
    adjacency = vstack(rows).tocsr()
    count, labels = connected_components(adjacency, directed=False)
    vocabulary = np.array(vectorizer.get_feature_names_out())
    groups = []
    for label in range(count):
        members = np.flatnonzero(labels == label)
        if len(members) < 2:
            continue
        sub = adjacency[members][:, members]
        centrality = np.asarray(sub.sum(axis=1)).ravel()
        ordered = [int(members[i]) for i in np.argsort(-centrality, kind="stable")]
        groups.append(Group(members=ordered, keywords=_keywords(matrix[members], vocabulary)))
    groups.sort(key=lambda g: (-len(g.members), g.members[0]))
    return groups


def _keywords(rows: csr_matrix, vocabulary: np.ndarray, count: int = 5) -> list[str]:
    """The heaviest n-grams of a group, skipping ones contained in a heavier one."""
    weights = np.asarray(rows.sum(axis=0)).ravel()
    chosen: list[str] = []
    for index in np.argsort(-weights):
        term = str(vocabulary[index]).strip()
        if weights[index] <= 0 or len(chosen) >= count:
            break
        if len(term) < 2 or any(not ch.isalnum() for ch in term):
            continue
        if any(_overlap(term, other) for other in chosen):
            continue
        chosen.append(term)
    return chosen


def _overlap(a: str, b: str) -> bool:
    """Two n-grams that share a bigram are parts of one phrase ("没有答", "有答复")."""
    return any(a[i:i + 2] in b for i in range(len(a) - 1))


def search(query: str, texts: list[str], limit: int = 10, minimum: float = 0.05) -> list[tuple[int, float]]:
    """Indexes of the texts most like `query`, with their cosine, best first."""
    if not texts or not query.strip():
        return []
    vectorizer = _vectorizer()
    try:
        matrix = vectorizer.fit_transform([*texts, query])
    except ValueError:
        return []
    scores = (matrix[:-1] @ matrix[-1].T).toarray().ravel()
    order = np.argsort(-scores, kind="stable")[:limit]
    return [(int(i), round(float(scores[i]), 4)) for i in order if scores[i] >= minimum]
