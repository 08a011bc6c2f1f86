"""Fit the follow-up / shared-problem link model (services/triage/link_model.py) on the independently written sets
already scored, and write services/triage/data/link_model.yaml. `make fit-links`.

Each set is replayed in time order through triage's own proposal; every earlier case that triage would index
(accepted, within the window) is a candidate pair, labelled by the set's duplicate_of / recurrence_of. Printed:
the leave-one-set-out duplicate-and-recurrence F1 of the model and of the rules alone, per set, for each
threshold tried; the highest threshold within TIE of the best mean is written. Sets never scored (the current
blind sets) must not be listed in FIT_SETS.
"""

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from sklearn.linear_model import LogisticRegression

sys.path.insert(0, str(Path(__file__).resolve().parent))
import triage as bt  # noqa: E402  (bench/triage.py: build, read_set, BLIND)

from services.triage import engine, followups  # noqa: E402
from services.triage.link_model import evidence, feature_names, features  # noqa: E402
from shared.settings import Settings  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "services" / "triage" / "data" / "link_model.yaml"
FIT_SETS = ("set_a", "set_b", "set_c_dev", "set_d_dev", "set_e", "set_f", "set_g", "set_h", "set_i", "set_j", "set_l",
            "set_m", "set_o", "set_p", "set_n", "set_q", "set_u", "set_v", "set_x", "set_y")
WINDOW_DAYS = 90
POSITIVE_WEIGHT = 5.0  # a missed follow-up costs an enterprise more than an officer's look at a doubtful link
C = 1.0
THRESHOLDS = (0.5, 0.6, 0.7, 0.8, 0.9)
TIE = 0.01
REVIEW_THRESHOLD = Settings().triage_review_threshold  # a rule's link below it waits for an officer


def pairs_of(name: str, triage: Any, vocabulary: Any) -> list[dict[str, Any]]:
    """Every (new, earlier) pair of one set with its features and label."""
    seen: list[dict[str, Any]] = []
    closed: set[str] = set()
    rows = []
    for case in sorted(bt.read_set(bt.BLIND / f"{name}.jsonl"), key=lambda c: c["received_at"]):
        me = _probe(case, triage)
        ref = case["label"].get("duplicate_of") or case["label"].get("recurrence_of")
        for old in seen:
            age = (me["at"] - old["at"]).total_seconds() / 86400
            if age > WINDOW_DAYS or not (old["indexed"] or ref == old["id"]):
                continue
            earlier = followups.Earlier(old["id"], old["probe"].identity, old["probe"].department,
                                        old["probe"].region, old["probe"].matters, old["id"] in closed,
                                        vocabulary.similarity(case["content"], old["text"]),
                                        old["probe"].co_departments, age, old["probe"].things, old["probe"].places)
            rule = followups._same_problem(me["probe"], earlier)
            same = followups.same_enterprise(me["probe"].identity, earlier.identity)
            rows.append({"set": name, "new": case["id"], "old": old["id"], "y": int(ref == old["id"]),
                         "rule": rule[0] if rule else 0.0, "out": followups.ruled_out(me["probe"], earlier),
                         "x": features(evidence(me["probe"], earlier), same)})
        seen.append(me)
        if case.get("closed_before_next"):
            closed.add(case["id"])
    return rows


def _probe(case: dict[str, Any], triage: Any) -> dict[str, Any]:
    from services.triage.domain import Case
    from shared.masking import mask_phone

    who = case["enterprise"]
    proposal = triage.propose(Case(case["content"], who["name"], case.get("title"), case.get("region_hint"),
                                   case.get("channel")))
    probe = engine.probe_of(triage, case["content"], proposal,
                            engine.Who(who["name"], who.get("uscc"), mask_phone(who.get("contact_phone"))))
    return {"id": case["id"], "at": bt._at(case["received_at"]), "text": case["content"], "probe": probe,
            "indexed": proposal.screening == "accepted"}


def decide(rows: list[dict[str, Any]], likely: Any, threshold: float | None) -> dict[str, str]:
    """new case -> the earlier case linked, as followups.link decides: the rules' best when they match any
    candidate (linked from the review threshold on); otherwise the model's best from `threshold` on, among the
    candidates the rules do not rule out (no model: `threshold` None)."""
    by_new: dict[str, list[tuple[dict[str, Any], float]]] = {}
    for row, p in zip(rows, likely, strict=True):
        by_new.setdefault(row["new"], []).append((row, p))
    chosen = {}
    for new, pairs in by_new.items():
        ruled = [(r["rule"], r["old"]) for r, _ in pairs if r["rule"] > 0]
        if ruled:
            strength, old = max(ruled)
            if strength >= REVIEW_THRESHOLD:
                chosen[new] = old
            continue
        scored = [(p, r["old"]) for r, p in pairs if not r["out"]]
        if threshold is not None and scored and max(scored)[0] >= threshold:
            chosen[new] = max(scored)[1]
    return chosen


def f1(rows: list[dict[str, Any]], chosen: dict[str, str]) -> float:
    truth = {row["new"]: row["old"] for row in rows if row["y"]}
    hits = sum(1 for new, old in chosen.items() if truth.get(new) == old)
    precision, recall = hits / max(len(chosen), 1), hits / max(len(truth), 1)
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def fit(rows: list[dict[str, Any]]) -> LogisticRegression:
    """On the pairs the model decides: of new cases the rules link to nothing, not ruled out."""
    unruled = {r["new"] for r in rows if r["rule"] > 0}
    rows = [r for r in rows if r["new"] not in unruled and not r["out"]]
    x, y = np.array([r["x"] for r in rows]), np.array([r["y"] for r in rows])
    return LogisticRegression(C=C, max_iter=5000, class_weight={0: 1.0, 1: POSITIVE_WEIGHT}).fit(x, y)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dry-run", action="store_true", help="print the figures, write nothing")
    args = parser.parse_args()
    triage, vocabulary, _ = bt.build()
    by_set = {name: pairs_of(name, triage, vocabulary) for name in FIT_SETS}
    print(f"pairs: {sum(map(len, by_set.values()))}, same problem: {sum(r['y'] for v in by_set.values() for r in v)}")
    means = {}
    print("rules alone  " + " ".join(f"{n}:{f1(v, decide(v, [0.0] * len(v), None)):.2f}" for n, v in by_set.items()))
    for threshold in THRESHOLDS:
        scores = {}
        for held in FIT_SETS:
            model = fit([r for n, v in by_set.items() if n != held for r in v])
            rows = by_set[held]
            likely = model.predict_proba(np.array([r["x"] for r in rows]))[:, 1]
            scores[held] = f1(rows, decide(rows, likely, threshold))
        means[threshold] = sum(scores.values()) / len(scores)
        print(f"model >= {threshold}  " + " ".join(f"{n}:{s:.2f}" for n, s in scores.items())
              + f"  mean {means[threshold]:.3f}")
    # the highest threshold within TIE of the best mean: a false link hides a case from its unit (it is screened a
    # duplicate), a missed one only leaves two cases an officer can still merge
    best = max(means.values())
    threshold = max(t for t, mean in means.items() if mean >= best - TIE)
    model = fit([r for v in by_set.values() for r in v])
    weights = {n: round(float(w), 4) for n, w in zip(feature_names(), model.coef_[0], strict=True)}
    document = {"fitted_on": list(FIT_SETS), "threshold": threshold,
                "leave_one_set_out_f1": round(means[threshold], 3), "intercept": round(float(model.intercept_[0]), 4),
                "weights": weights}
    print(f"chosen threshold {threshold} (mean leave-one-set-out F1 {means[threshold]:.3f}; best {best:.3f})")
    if not args.dry_run:
        header = ("# Written by bench/fit_links.py (make fit-links) from the scored sets named below; do not edit by "
                  "hand.\n")
        OUT.write_text(header + yaml.safe_dump(document, allow_unicode=True, sort_keys=False), encoding="utf-8")
        print(f"wrote {OUT.relative_to(REPO)}")


if __name__ == "__main__":
    main()
