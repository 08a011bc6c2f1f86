"""The catalogue of administrative matters (shared/data/matters.yaml): which unit handles each matter.

Pure once loaded. `Catalogue.find` names the matters a case's text mentions, each tied to its unit; that is the
knowledge of duties triage routes by (a classifier trained on example cases learns their templates, not duties).
`check_catalogue` lists what is wrong with an edited file, in Chinese, for the console.
"""

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from services.triage.framing import normalise
from shared.org import Organisation

KINDS = ("许可", "备案", "审批", "登记", "检查", "认定", "补贴", "服务", "公用", "纠纷", "执法", "监管")
MIN_WORD_CHARS = 2
# A word this short must stand as a word of the segmented text, not inside a longer one (上市 in 超市上架).
SHORT_WORD_CHARS = 2


@dataclass(frozen=True)
class Matter:
    id: str  # "<unit>:<n>", stable while the file keeps its order
    name: str
    unit: str
    kind: str
    words: tuple[str, ...]  # normalised, the name included
    groups: tuple[tuple[str, ...], ...] = ()  # all of these groups, one word of each
    shared: bool = False  # about something many enterprises share (a road, a park's supply)


@dataclass(frozen=True)
class MatterHit:
    matter: Matter
    word: str  # what was found (the groups' words joined by "+")
    position: int


class Catalogue:
    def __init__(self, matters: Iterable[Matter]):
        self.matters = tuple(matters)
        self.by_word: dict[str, Matter] = {}
        for matter in self.matters:
            for word in matter.words:
                self.by_word.setdefault(word, matter)
        ordered = sorted(self.by_word, key=lambda w: (-len(w), w))
        self._pattern = re.compile("|".join(map(re.escape, ordered))) if ordered else None
        self._grouped = [m for m in self.matters if m.groups]
        self.shared_names = frozenset(m.name for m in self.matters if m.shared)

    def __len__(self) -> int:
        return len(self.matters)

    @property
    def units(self) -> set[str]:
        return {m.unit for m in self.matters}

    def words(self) -> dict[str, list[str]]:
        """Unit -> every word of its matters (for the segmenter's dictionary and the classifier's vocabulary)."""
        out: dict[str, list[str]] = {}
        for matter in self.matters:
            out.setdefault(matter.unit, []).extend(matter.words)
            for group in matter.groups:
                out[matter.unit].extend(group)
        return out

    def find(self, matter_text: str, tokens: Iterable[str] | None = None) -> list[MatterHit]:
        """The matters named in normalised matter text, in order of first mention, each once. With `tokens` (the
        segmented text), a two-character word counts only where the segmenter kept it a word."""
        if self._pattern is None or not matter_text:
            return []
        words = set(tokens) if tokens is not None else None
        hits: dict[str, MatterHit] = {}
        for m in self._pattern.finditer(matter_text):
            word = m.group(0)
            if words is not None and len(word) <= SHORT_WORD_CHARS and word not in words:
                continue
            matter = self.by_word[word]
            hits.setdefault(matter.id, MatterHit(matter, word, m.start()))
        for matter in self._grouped:
            if matter.id in hits:
                continue
            found = []
            for group in matter.groups:
                where = [(matter_text.find(w), w) for w in group if w in matter_text]
                if not where:
                    break
                found.append(min(where))
            else:
                hits[matter.id] = MatterHit(matter, "+".join(w for _, w in found), min(p for p, _ in found))
        return sorted(hits.values(), key=lambda h: (h.position, h.matter.id))


def unit_scores(hits: Iterable[MatterHit]) -> dict[str, float]:
    """Each unit's weight in the matters found: one per distinct matter, the first-named matter a little more
    (the problem the enterprise leads with is usually the one it asks about)."""
    scores: dict[str, float] = {}
    for i, hit in enumerate(hits):
        scores[hit.matter.unit] = scores.get(hit.matter.unit, 0.0) + (1.25 if i == 0 else 1.0)
    return scores


# ---------------------------------------------------------------------------- reading and checking the file

def _parse(data: Any, org: Organisation | None) -> tuple[list[Matter], list[str]]:
    problems: list[str] = []
    if not isinstance(data, Mapping) or not isinstance(data.get("units"), Mapping):
        return [], ["事项目录应为一个含有 units 的映射（units: 单位代码: 事项列表）"]
    known = org.department_codes if org is not None else None
    matters: list[Matter] = []
    owner: dict[str, tuple[str, str]] = {}
    names: dict[str, str] = {}
    for unit, items in data["units"].items():
        unit = str(unit)
        if known is not None and unit not in known:
            problems.append(f"单位代码 {unit} 不在组织机构文件中")
        if not isinstance(items, list) or not items:
            problems.append(f"单位 {unit} 没有列出任何事项")
            continue
        for n, item in enumerate(items, 1):
            where = f"单位 {unit} 的第 {n} 个事项"
            if not isinstance(item, Mapping):
                problems.append(f"{where}应为含 name、kind、words 的映射")
                continue
            name = str(item.get("name") or "").strip()
            if not name:
                problems.append(f"{where}缺少名称（name）")
                continue
            where = f"{where}“{name}”"
            if name in names:
                problems.append(f"{where}与单位 {names[name]} 的事项重名")
            names[name] = unit
            kind = str(item.get("kind") or "")
            if kind not in KINDS:
                problems.append(f"{where}的类别（kind）应为 {'、'.join(KINDS)} 之一，现为“{kind}”")
            raw_words = item.get("words") or []
            raw_groups = item.get("all") or []
            if not isinstance(raw_words, list) or not isinstance(raw_groups, list) or not all(
                    isinstance(g, list) and g for g in raw_groups):
                problems.append(f"{where}的 words 应为词语列表，all 应为若干非空词语列表")
                continue
            words = []
            for w in [name, *raw_words]:
                norm = normalise(str(w))
                if len(norm) < MIN_WORD_CHARS:
                    problems.append(f"{where}的词语“{w}”太短（至少 {MIN_WORD_CHARS} 个字）")
                    continue
                other = owner.get(norm)
                if other is not None and other[0] != unit:
                    problems.append(f"词语“{w}”同时属于单位 {other[0]} 的“{other[1]}”和单位 {unit} 的“{name}”")
                owner.setdefault(norm, (unit, name))
                words.append(norm)
            groups = tuple(tuple(normalise(str(w)) for w in g if normalise(str(w))) for g in raw_groups)
            if not isinstance(item.get("shared", False), bool):
                problems.append(f"{where}的 shared 应为 true 或 false")
            matters.append(Matter(f"{unit}:{n}", name, unit, kind, tuple(dict.fromkeys(words)), groups,
                                  bool(item.get("shared", False))))
    if known is not None:
        missing = sorted(known - {m.unit for m in matters})
        if missing:
            problems.append(f"这些单位在事项目录中没有事项：{'、'.join(missing)}")
    return matters, problems


def check_catalogue(text: str, org: Organisation) -> list[str]:
    """What is wrong with the text of a catalogue file for this organisation, in Chinese (empty: usable)."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f"第 {mark.line + 1} 行" if mark is not None else ""
        return [f"事项目录不是有效的 YAML{line}：{getattr(exc, 'problem', None) or exc}"]
    return _parse(data, org)[1]


def parse_catalogue(text: str, org: Organisation | None = None) -> Catalogue:
    matters, problems = _parse(yaml.safe_load(text), org)
    if problems:
        raise ValueError("matters catalogue: " + "; ".join(problems))
    return Catalogue(matters)


def load_catalogue(org: Organisation | None = None, path: Path | None = None) -> Catalogue:
    """The packaged shared/data/matters.yaml, or the file at `path` (QHWY_TRIAGE_MATTERS)."""
    if path is None:
        text = resources.files("shared.data").joinpath("matters.yaml").read_text(encoding="utf-8")
    else:
        text = Path(path).read_text(encoding="utf-8")
    return parse_catalogue(text, org)
