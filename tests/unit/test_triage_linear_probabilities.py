"""classifier.linear_probabilities gives what sklearn's predict_proba gives, for many classes and for two."""

import numpy as np
from scipy import sparse
from sklearn.linear_model import LogisticRegression

from services.triage.classifier import linear_probabilities


def test_the_same_probabilities_as_sklearn_for_many_classes_and_for_two():
    rng = np.random.default_rng(7)
    x = sparse.csr_matrix(rng.random((60, 12)) * (rng.random((60, 12)) > 0.6))
    three, two = np.array(["a", "b", "c"])[rng.integers(0, 3, 60)], np.array(["yes", "no"])[rng.integers(0, 2, 60)]
    for labels in (three, two):
        model = LogisticRegression(max_iter=500).fit(x, labels)
        for i in range(5):
            np.testing.assert_allclose(linear_probabilities(model, x[i]), model.predict_proba(x[i])[0], rtol=1e-9)
    # by hand: one feature, weights 1 and -1, no intercept -> softmax(2, -2) for x = 2
    model = LogisticRegression()
    model.classes_, model.intercept_ = np.array(["p", "q", "r"]), np.zeros(3)
    model.coef_ = np.array([[1.0], [-1.0], [0.0]])
    e = np.exp([2.0, -2.0, 0.0])
    np.testing.assert_allclose(linear_probabilities(model, sparse.csr_matrix([[2.0]])), e / e.sum())
