"""Units named in a case, pure: the enterprise's own words for them ("派出所说", "找财政", "环保那边",
"希望水利部门上门指导"). A unit a request is addressed to is the one the enterprise asks to act (the lead, when
it is one whose matters the case is about or no matter says otherwise); units the case says are involved
("市场监管说要先有环评", "两边都说") are the ones a lead has to consult (co-departments).

Data: services/triage/data/unit_names.yaml (QHWY_TRIAGE_UNIT_NAMES) plus the organisation file's unit names.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import yaml

from services.triage.framing import normalise
from shared.org import Organisation

# A name ending like a unit ("水利局", "派出所", "供电公司") is a mention wherever it stands; a bare core ("财政",
# "环保") only where a unit's word, a speech verb or a list separator follows it.
UNIT_ENDINGS = ("局", "所", "部门", "公司", "中心", "大队", "站", "办", "委", "集团", "分局")
AFTER = ("局|部门|分局|公司|中心|方面|那边|那里|这边|说|称|表示|认为|要求|答复|回复|意见|出具|牵头|"
         "和|与|及|、|等|都|也|又|则|需|让|不|来|先后|已|还")
ASK = "希望|请求|恳请|请|要求|建议|盼|麻烦|呼吁"  # not 需要: "需要自然资源部门出具合规说明" asks for a paper
ORG_NOISE = re.compile(r"^(国网开化县|开化县|县|市)|(\(.*\)|（.*）)$")


@dataclass(frozen=True)
class UnitNames:
    names: Mapping[str, str]  # normalised name -> unit code
    pattern: re.Pattern[str] | None
    asked: re.Pattern[str] | None

    @classmethod
    def build(cls, org: Organisation, extra: Mapping[str, list[str]]) -> "UnitNames":
        names: dict[str, str] = {}
        for dept in org.departments:
            full = normalise(dept.name)
            names.setdefault(full, dept.code)
            core = normalise(ORG_NOISE.sub("", ORG_NOISE.sub("", dept.name)))
            if len(core) >= 2:
                names.setdefault(core, dept.code)
        unknown = set(extra) - org.department_codes
        if unknown:
            raise ValueError(f"unit names for departments the organisation does not have: {sorted(unknown)}")
        for code, words in extra.items():
            for word in words or ():
                if len(normalise(word)) >= 2:
                    names[normalise(word)] = code
        ordered = sorted(names, key=lambda w: (-len(w), w))
        if not ordered:
            return cls(names, None, None)
        alt = "|".join(map(re.escape, ordered))
        pattern = re.compile(f"({alt})")
        asked = re.compile(f"(?:{ASK})(?:县里|由|县|相关|请)?(?:{alt})")
        return cls(names, pattern, asked)

    def _is_mention(self, text: str, start: int, end: int) -> bool:
        word = text[start:end]
        if word.endswith(UNIT_ENDINGS) or len(word) >= 4:  # 市场监管, 自然资源: no everyday word is one
            return True
        return end == len(text) or re.match(AFTER, text[end:end + 3]) is not None

    def mentioned(self, matter: str) -> list[str]:
        """Unit codes named in normalised matter text, in order of first mention."""
        if self.pattern is None:
            return []
        out: list[str] = []
        chain: list[re.Match[str]] = []  # names written one after another ("水利、生态环境、农业农村部门")

        def flush() -> None:
            if chain and self._is_mention(matter, chain[-1].start(), chain[-1].end()):
                for m in chain:
                    code = self.names[m.group(1)]
                    if code not in out:
                        out.append(code)
            chain.clear()

        for m in self.pattern.finditer(matter):
            if chain and m.start() != chain[-1].end():
                flush()
            chain.append(m)
        flush()
        return out

    def addressed(self, matter: str) -> list[str]:
        """Unit codes a request is addressed to ("希望水利部门上门指导", "请税务局加快"), in order."""
        if self.asked is None:
            return []
        out: list[str] = []
        for m in self.asked.finditer(matter):
            inner = self.pattern.search(matter, m.start(), m.end()) if self.pattern else None
            if inner is None or not self._is_mention(matter, inner.start(), inner.end()):
                continue
            code = self.names[inner.group(1)]
            if code not in out:
                out.append(code)
        return out


def load_unit_names(org: Organisation, path: Path | None = None) -> UnitNames:
    if path is None:
        text = resources.files("services.triage.data").joinpath("unit_names.yaml").read_text(encoding="utf-8")
    else:
        text = Path(path).read_text(encoding="utf-8")
    return UnitNames.build(org, yaml.safe_load(text) or {})
