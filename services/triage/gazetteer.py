"""Where a problem is: place names of each region (data/gazetteer.yaml plus the organisation's region names).

Pure: a `Gazetteer` is built once from data and then only looks up text. The longest name wins where names
overlap ("马金工业园区" over "马金"), and each stretch of text counts once.
"""

import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from shared.org import Organisation

REGION_SUFFIXES = ("办事处", "镇", "乡")
# A problem of the whole county: the county named as such, with many enterprises ("全县…等企业", "我县…普遍").
COUNTY_WIDE = re.compile("全县|我县|县域|全县范围")
MANY = re.compile("等.{0,8}(企业|单位|主体|商家|电站|民宿|商户|网点|茶企|农户)|"
                  "多家|几家|普遍|链上企业|一批|多个乡镇|各乡镇")
# Two regions named one after the other ("马金镇、齐溪镇一带", "齐溪、长虹等乡镇"): a problem of several places.
LISTED = "、，,和与及"
PLACE_WEIGHT = 1.0  # a village, park, road or landmark, or the region's own name
ALIAS_WEIGHT = 0.8  # a short form ("马金"), more often part of something else


@dataclass(frozen=True)
class RegionGuess:
    region: str | None
    confidence: float
    evidence: str  # what decided it: "hint", "text:<name>", "enterprise:<name>", "none"


class Gazetteer:
    def __init__(self, names: dict[str, tuple[str, float]], not_places: frozenset[str] = frozenset()):
        """`names`: place name -> (region code, weight); `not_places`: phrases that contain one but are none."""
        self.names = names
        self.not_places = not_places
        ordered = sorted({*names, *not_places}, key=lambda n: (-len(n), n))
        self._pattern = re.compile("|".join(re.escape(n) for n in ordered)) if ordered else None

    @classmethod
    def build(cls, org: Organisation, data: dict[str, Any]) -> "Gazetteer":
        names: dict[str, tuple[str, float]] = {}
        data = dict(data)
        not_places = frozenset(data.pop("not_places", None) or ())
        unknown = set(data) - org.region_codes
        if unknown:
            raise ValueError(f"gazetteer names regions the organisation does not have: {sorted(unknown)}")
        for region in org.regions:
            entry = data.get(region.code) or {}
            full = region.name.split("(")[0].split("（")[0]
            short = full
            for suffix in REGION_SUFFIXES:
                short = short.removesuffix(suffix)
            candidates = [(region.name, PLACE_WEIGHT), (full, PLACE_WEIGHT)]
            candidates += [(p, PLACE_WEIGHT) for p in entry.get("places") or []]
            candidates += [(a, ALIAS_WEIGHT) for a in entry.get("aliases") or []]
            if len(short) >= 2 and short != full:
                candidates.append((short, ALIAS_WEIGHT))
            for name, weight in candidates:
                if not name:
                    continue
                owner = names.get(name)
                if owner is not None and owner[0] != region.code:
                    raise ValueError(f"place name {name!r} is in two regions: {owner[0]} and {region.code}")
                if owner is None or owner[1] < weight:
                    names[name] = (region.code, weight)
        return cls(names, not_places)

    def matches(self, text: str) -> list[tuple[str, str, float]]:
        """(name, region, weight) for each place named in `text`, in order, longest names first where they overlap."""
        return [(name, region, weight) for _, _, name, region, weight in self._spans(text)]

    def _spans(self, text: str) -> list[tuple[int, int, str, str, float]]:
        """(start, end, name, region, weight) of each place named in `text`, in order."""
        if not self._pattern or not text:
            return []
        return [(m.start(), m.end(), m.group(0), *self.names[m.group(0)]) for m in self._pattern.finditer(text)
                if m.group(0) not in self.not_places]

    @staticmethod
    def _listed_regions(text: str, spans: list[tuple[int, int, str, str, float]]) -> bool:
        """Whether places of two regions are named in a list ("马金镇、齐溪镇", "下淤村、长虹乡桃源村")."""
        for (_, end, _, region, _), (start, _, _, other, _) in zip(spans, spans[1:], strict=False):
            between = text[end:start]
            if region != other and 0 < len(between) <= 2 and between[0] in LISTED:
                return True
        return False

    def mask(self, text: str, token: str = "某地") -> str:
        """The text with place names replaced, so that a classifier learns the matter, not the place."""
        if not self._pattern:
            return text
        return self._pattern.sub(lambda m: m.group(0) if m.group(0) in self.not_places else token, text)

    def locate(self, text: str, hint: str | None, enterprise_name: str, org: Organisation) -> RegionGuess:
        """The region of a problem: the hint a channel gave, else places in the text, else the enterprise's name."""
        if hint:
            hint = hint.strip()
            for place in org.regions:
                if hint in (place.code, place.name):
                    return RegionGuess(place.code, 0.97, "hint")
            known = self.names.get(hint)
            if known:
                return RegionGuess(known[0], 0.95, "hint")
        spans = self._spans(text)
        found = [(name, region, weight) for _, _, name, region, weight in spans]
        if COUNTY_WIDE.search(text) and MANY.search(text):
            return RegionGuess(None, 0.9, "county-wide")
        if self._listed_regions(text, spans):
            return RegionGuess(None, 0.9, "several regions")
        if found:
            scores: dict[str, float] = {}
            first: dict[str, int] = {}
            counted: set[str] = set()
            for i, (name, region, weight) in enumerate(found):
                if name not in counted:  # a name said three times ("园区…园区…园区") is still one place
                    counted.add(name)
                    scores[region] = scores.get(region, 0.0) + weight
                first.setdefault(region, i)
            ranked = sorted(scores, key=lambda r: (-scores[r], first[r]))
            best = ranked[0]
            share = scores[best] / sum(scores.values())
            strongest = max(w for _, r, w in found if r == best)
            confidence = round((0.97 if strongest >= PLACE_WEIGHT else 0.85) * share, 2)
            name = next(n for n, r, _ in found if r == best)
            return RegionGuess(best, confidence, f"text:{name}")
        in_name = self.matches(enterprise_name)
        if in_name:
            name, region, _ = in_name[0]
            return RegionGuess(region, 0.9, f"enterprise:{name}")
        return RegionGuess(None, 0.0, "none")


def load_gazetteer(org: Organisation, path: Path | None = None) -> Gazetteer:
    if path is None:
        text = resources.files("services.triage.data").joinpath("gazetteer.yaml").read_text(encoding="utf-8")
    else:
        text = Path(path).read_text(encoding="utf-8")
    return Gazetteer.build(org, yaml.safe_load(text) or {})
