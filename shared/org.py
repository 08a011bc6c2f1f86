"""The organisation file: the county's regions, departments and duties, channels, time limits and rating levels.

Nothing in code names a county, a department or a channel; everything comes from this file.
"""

from functools import cached_property
from importlib import resources
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, model_validator


class _Item(BaseModel):
    model_config = ConfigDict(frozen=True, extra="allow")


class County(_Item):
    code: str
    name: str
    city: str | None = None
    province: str | None = None


class Region(_Item):
    code: str
    name: str
    kind: str


class Department(_Item):
    code: str
    name: str
    duties: tuple[str, ...] = ()


class Category(_Item):
    code: str
    name: str
    departments: tuple[str, ...] = ()


class EscalationLevel(_Item):
    level: int
    code: str
    name: str


class Complexity(_Item):
    code: str
    days: int
    name: str
    rule: str | None = None


class Coded(_Item):
    code: str
    name: str


class RatingLevel(_Item):
    code: str
    name: str
    satisfied: bool


class Oversight(_Item):
    code: str
    name: str
    role: str | None = None


class EvaluationWeights(_Item):
    """The weight of each evaluation source in a unit's combined satisfaction (企业评价为主,
    营商部门和第三方评价为辅)."""

    enterprise: float = 0.6
    business_office: float = 0.2
    third_party: float = 0.2

    @model_validator(mode="after")
    def _sensible(self) -> "EvaluationWeights":
        weights = (self.enterprise, self.business_office, self.third_party)
        if any(w < 0 for w in weights) or sum(weights) <= 0:
            raise ValueError("evaluation weights must be non-negative and not all zero")
        return self

    def as_dict(self) -> dict[str, float]:
        return {"enterprise": self.enterprise, "business_office": self.business_office,
                "third_party": self.third_party}


class Organisation(BaseModel):
    model_config = ConfigDict(frozen=True)

    county: County
    regions: tuple[Region, ...]
    departments: tuple[Department, ...]
    categories: tuple[Category, ...] = ()
    escalation_levels: tuple[EscalationLevel, ...]
    complexity: tuple[Complexity, ...]
    screening: tuple[Coded, ...]
    channels: tuple[Coded, ...]
    rating_levels: tuple[RatingLevel, ...]
    oversight: tuple[Oversight, ...] = ()
    evaluation_weights: EvaluationWeights = EvaluationWeights()

    @model_validator(mode="after")
    def _references_resolve(self) -> "Organisation":
        known = {d.code for d in self.departments}
        for category in self.categories:
            unknown = set(category.departments) - known
            if unknown:
                raise ValueError(f"category {category.code} names unknown departments {sorted(unknown)}")
        for field in ("regions", "departments", "categories", "escalation_levels", "channels", "complexity",
                      "screening", "rating_levels"):
            codes = [item.code for item in getattr(self, field)]
            if len(codes) != len(set(codes)):
                raise ValueError(f"duplicate codes in {field}")
        levels = [level.level for level in self.escalation_levels]
        if len(levels) != len(set(levels)):
            raise ValueError("duplicate escalation level numbers")
        if not self.categories:
            raise ValueError("at least one category is needed (the last one is the catch-all)")
        return self

    @cached_property
    def channel_codes(self) -> frozenset[str]:
        return frozenset(c.code for c in self.channels)

    @cached_property
    def region_codes(self) -> frozenset[str]:
        return frozenset(r.code for r in self.regions)

    @cached_property
    def department_codes(self) -> frozenset[str]:
        return frozenset(d.code for d in self.departments)

    def department(self, code: str) -> Department:
        return next(d for d in self.departments if d.code == code)

    def complexity_of(self, code: str) -> Complexity:
        return next(c for c in self.complexity if c.code == code)

    @cached_property
    def fallback_category(self) -> Category:
        """The catch-all category (the last one in the file), whose units coordinate unmatched problems."""
        return self.categories[-1]

    @cached_property
    def top_escalation_level(self) -> int:
        return max(level.level for level in self.escalation_levels)


def load_organisation(path: Path | None = None) -> Organisation:
    """Load the organisation file; without a path, the packaged default."""
    if path is None:
        text = resources.files("shared.data").joinpath("kaihua.yaml").read_text(encoding="utf-8")
    else:
        text = Path(path).read_text(encoding="utf-8")
    return Organisation.model_validate(yaml.safe_load(text))
