"""Is an earlier case the same problem as a new one? A logistic model over what the linking sees, pure.

The hand rules of followups.py were written from the cases of the development sets, and on sets written later by
other authors they missed most reports of one shared problem by several enterprises and follow-ups in words the
rules did not list (duplicate F1 0.61-0.69 on three scored blind sets). Where the rules find no link, the model weighs
the same evidence (who reports it, matters, units, region, places, wording, age, follow-up words) with weights
fitted on every independently written set already scored (bench/fit_links.py writes
data/link_model.yaml; it prints the leave-one-set-out figures). The decision stays explainable: the officer is
told which evidence agreed.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from math import exp
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:  # followups imports this module
    from services.triage.followups import Earlier, Probe

# The evidence about one (new, earlier) pair, each between 0 and about 1. Every name is weighted twice: once for
# pairs of one enterprise, once for pairs of two (a follow-up and a shared problem are told differently).
EVIDENCE = ("similarity", "matters", "shared_matter", "unit", "units", "region", "other_region", "things", "places",
            "other_places", "follow_up", "reported_before", "says_also", "recent", "weeks", "closed",
            "similar_here", "similar_matter", "follow_up_here", "told_before_here")


def evidence(new: "Probe", old: "Earlier") -> dict[str, float]:
    from services.triage.followups import _places_agree

    shared = set(new.matters) & set(old.matters)
    same_unit = float(new.department is not None and new.department == old.department)
    related = float(bool(shared) or bool(same_unit))
    age = old.age_days if old.age_days is not None else 999.0
    region = float(new.region is not None and new.region == old.region)
    return {
        "similarity": old.similarity, "matters": min(len(shared), 2) / 2, "unit": same_unit,
        "shared_matter": float(bool(shared & set(new.shared_matters))),
        "units": float(bool({new.department, *new.co_departments} & {old.department, *old.co_departments} - {None})),
        "region": region, "other_region": float(bool(new.region and old.region and new.region != old.region)),
        "things": min(len(set(new.things) & set(old.things)), 2) / 2,
        "places": float(bool(new.places and old.places and _places_agree(new.places, old.places))),
        "other_places": float(not _places_agree(new.places, old.places)),
        "follow_up": float(new.follow_up), "reported_before": float(new.reported_before),
        "says_also": float(new.says_also), "recent": float(age <= 15), "weeks": float(15 < age <= 45),
        "closed": float(old.closed), "similar_here": old.similarity * region,
        "similar_matter": old.similarity * float(bool(shared)), "follow_up_here": float(new.follow_up) * related,
        "told_before_here": float(new.reported_before) * related,
    }


def feature_names() -> list[str]:
    return [f"same.{n}" for n in EVIDENCE] + [f"other.{n}" for n in EVIDENCE] + ["same"]


def features(found: Mapping[str, float], same: bool) -> list[float]:
    mine = [found[n] for n in EVIDENCE]
    return ([*mine, *([0.0] * len(EVIDENCE)), 1.0] if same else [*([0.0] * len(EVIDENCE)), *mine, 0.0])


@dataclass(frozen=True)
class LinkModel:
    intercept: float
    weights: Mapping[str, float]
    threshold: float  # a link from this probability on (when the rules found none)

    def probability(self, found: Mapping[str, float], same: bool) -> float:
        """The logistic of intercept + weights · features(found, same), read straight from `found` (the other
        half of the features is zero)."""
        side = "same" if same else "other"
        score = self.intercept + (self.weights.get("same", 0.0) if same else 0.0)
        score += sum(self.weights.get(f"{side}.{n}", 0.0) * found[n] for n in EVIDENCE)
        return 1 / (1 + exp(-max(min(score, 30.0), -30.0)))


def load_link_model(path: Path | None = None) -> LinkModel | None:
    """data/link_model.yaml (None when absent: the rules alone decide)."""
    if path is None:
        ref = resources.files("services.triage.data").joinpath("link_model.yaml")
        if not ref.is_file():
            return None
        text = ref.read_text(encoding="utf-8")
    else:
        text = Path(path).read_text(encoding="utf-8")
    raw: dict[str, Any] = yaml.safe_load(text)
    return LinkModel(float(raw["intercept"]), {str(k): float(v) for k, v in raw["weights"].items()},
                     float(raw["threshold"]))
