"""Triage decisions, pure: screening, lead and co-departments, region, "123" complexity, escalation, confidence.

Rules come from the organisation file (each unit's duties) and a lexicon of words per unit (data); a text
classifier (classifier.py) learns the rest from the labelled corpus. The two are fused per field; a field whose
confidence is below the review threshold sends the case to the triage officers instead of assigning it.
Duplicates are found by duplicates.py (the store supplies the candidates); officers' decisions are review.py.
"""

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any, Literal, Protocol
from zoneinfo import ZoneInfo

import yaml

from services.triage.catalogue import Catalogue, MatterHit, unit_scores
from services.triage.classifier import Scores
from services.triage.followups import person_name
from services.triage.framing import normalise, split_frame
from services.triage.gazetteer import Gazetteer
from services.triage.learning import Correction, OfficerMemory
from services.triage.segment import Segmenter
from services.triage.units import UnitNames
from shared.contracts.case_events import Assigned, Triaged, Urged
from shared.contracts.envelope import CaseEvent
from shared.org import Organisation
from shared.workdays import add_working_days

MIN_CONTENT_CHARS = 6
DUTY_WEIGHT = 2.0  # a duty phrase of the organisation file named in the text
LEXICON_WEIGHT = 1.0  # a word of the unit's lexicon
RULE_SHARE = 0.25  # how much the rules weigh against the classifier when any rule matched
CO_DEPARTMENT_MIN_RULE = 2.0  # rule score another unit needs to be named a co-department
CO_DEPARTMENT_MIN_MATTERS = 1.0  # catalogue weight another unit needs (one matter of its own named)
RULE_SCREENING_SHARE = 0.5  # at most this much of the screening comes from the duty words found
SHORT_CONFIDENCE = 0.9
COMPLEX_RULE_CONFIDENCE = 0.8  # the policy's words for a complex case, found in the text
CATALOGUE_SHARE = 0.25  # how much the matters found in the catalogue weigh in the lead unit, when any was found
CATALOGUE_SCREENING_WEIGHT = 2.0  # a matter of the catalogue counts like a duty phrase toward "accepted"
DERIVED_CONFIDENCE = 0.85  # a complexity derived from the units found in the catalogue
MODEL_OVERRULES_DERIVED = 0.7  # the classifier's probability for another grade that overrules the derived one
OFFICER_CONFIDENCE = 0.9
ADDRESSED_CONFIDENCE = 0.85  # the enterprise asks a unit by name to act ("希望水利部门上门指导")
# The text says that several units are involved ("税务和财政两边口径不一致", "涉及多个部门").
SEVERAL_UNITS = re.compile("多个部门|两个部门|几个部门|多部门|两边|各部门|部门之间|互相|相互|分别|涉及.{0,12}部门|"
                           "都说|两家|几家单位")

FIELD_NAMES = {"screening": "筛查", "department": "承办单位", "region": "属地", "complexity": "复杂度"}
CONTEXT_KINDS = frozenset({"服务"})  # catalogue kinds that name no co-department on their own

ACCEPTED, NON_BUSINESS, UNCLEAR, DUPLICATE = "accepted", "non_business", "unclear", "duplicate"
DecidedBy = Literal["auto", "officer"]  # who decided a triage (Triaged.decided_by)
SIMPLE, GENERAL, COMPLEX = "simple", "general", "complex"


# A caller who gives a person's name, not an enterprise's ("个人", "王女士"), about no business of their own: a
# private matter (wages owed to them, a refund, a licence of their own), not the business environment.
OWN_BUSINESS = re.compile("我们公司|我公司|其公司|本公司|我司|我们厂|我厂|本厂|其厂|我们店|我店|本店|其店|"
                          "我开的|我经营|其经营|我家的店|我家厂|我们的厂|我们的店|我们的公司|我们合作社|"
                          "我们企业|我企业|其企业|个体户|我们的民宿|我家民宿|我们民宿|农家乐|店里|厂里|工地")
PERSONAL_CONFIDENCE = 0.75


def personal_matter(case: "Case") -> bool:
    return person_name(case.enterprise_name) and OWN_BUSINESS.search(case.text) is None


def margin_confidence(scores: Mapping[str, float], best: str) -> float:
    """How clearly the best label beats the runner-up: best / (best + second), from 0.5 (a tie) to 1.

    Over 25 units with few examples each, a linear model's top probability stays low even when it is right;
    the ratio to the runner-up is what tells a clear case from a doubtful one.
    """
    second = max((v for k, v in scores.items() if k != best), default=0.0)
    top = scores[best]
    return round(top / (top + second), 2) if top + second > 0 else 0.0


@dataclass(frozen=True)
class DutyRules:
    """Words pointing at each unit: its duties in the organisation file and its lexicon (data/lexicon.yaml)."""

    words: Mapping[str, Mapping[str, float]]  # department -> word -> weight

    @classmethod
    def build(cls, org: Organisation, lexicon: Mapping[str, list[str]]) -> "DutyRules":
        unknown = set(lexicon) - org.department_codes
        if unknown:
            raise ValueError(f"lexicon names departments the organisation does not have: {sorted(unknown)}")
        words: dict[str, dict[str, float]] = {}
        for dept in org.departments:
            table = {word: LEXICON_WEIGHT for word in lexicon.get(dept.code) or []}
            for duty in dept.duties:
                table[duty] = DUTY_WEIGHT
            words[dept.code] = table
        return cls(words)

    def scores(self, text: str) -> dict[str, float]:
        """Each unit's score: the weights of its words found in the text (a word counts once; a word inside a
        longer matched word of the same unit does not count again)."""
        out = {}
        for code, table in self.words.items():
            found = [w for w in table if w in text]
            kept = [w for w in found if not any(w != other and w in other for other in found)]
            score = sum(table[w] for w in kept)
            if score:
                out[code] = score
        return out


def load_lexicon(path: Path | None = None) -> dict[str, list[str]]:
    if path is None:
        text = resources.files("services.triage.data").joinpath("lexicon.yaml").read_text(encoding="utf-8")
    else:
        text = Path(path).read_text(encoding="utf-8")
    return yaml.safe_load(text) or {}


@dataclass(frozen=True)
class ComplexityCues:
    """The policy's signs of a complex case (data/complexity.yaml)."""

    overlap: tuple[str, ...] = ()
    important: tuple[str, ...] = ()
    held_back: tuple[str, ...] = ()
    county: tuple[str, ...] = ()  # the case asks the county itself to decide (报请县委县政府研究决策)
    own_voice: tuple[str, ...] = ()  # channels where the enterprise speaks for itself (the QR page, the hotline)

    def complex_evidence(self, matter: str, units: int = 1) -> str | None:
        """The words that make a case complex under the policy (duties overlapping or unclear, and the county's
        industry affected: an important project or industry, something held back, or three or more units), or
        None."""
        overlap = [w for w in self.overlap if w in matter]
        important = [w for w in self.important if w in matter]
        held = [w for w in self.held_back if w in matter]
        county = [w for w in self.county if w in matter]
        if overlap and (important or held or units >= 3 or county):
            return overlap[0]
        if county and units >= 3:
            return f"{county[0]}（涉及 {units} 个单位）"
        if county and important:  # the county itself is asked to decide for an industry: 报请县委县政府研究决策
            return f"{county[0]}+{important[0]}"
        return f"{important[0]}+{held[0]}" if important and held else None


def load_complexity_cues(path: Path | None = None) -> ComplexityCues:
    if path is None:
        text = resources.files("services.triage.data").joinpath("complexity.yaml").read_text(encoding="utf-8")
    else:
        text = Path(path).read_text(encoding="utf-8")
    data = yaml.safe_load(text) or {}
    return ComplexityCues(*(tuple(data.get(k) or ()) for k in ("overlap", "important", "held_back", "county",
                                                                                       "own_voice")))


class TextScorer(Protocol):
    def scores(self, text: str) -> Scores: ...


@dataclass(frozen=True)
class Proposal:
    """An automatic triage decision with the confidence of each field."""

    screening: str
    department: str | None
    co_departments: tuple[str, ...]
    region: str | None
    complexity: str | None
    escalation_level: int | None
    needs_review: bool
    confidence: dict[str, float]
    reason: str
    duplicate_of: str | None = None
    recurrence_of: str | None = None
    matters: tuple[tuple[str, str], ...] = ()  # (matter, unit) found in the catalogue: the officer sees why


@dataclass(frozen=True)
class DuplicateMatch:
    case_id: str
    similarity: float
    same_enterprise: bool
    why: str = ""


@dataclass(frozen=True)
class Case:
    """What triage reads from a registered case (and from details the enterprise adds later)."""

    content: str
    enterprise_name: str
    title: str | None = None
    region_hint: str | None = None
    channel: str | None = None

    @property
    def text(self) -> str:
        return f"{self.title}。{self.content}" if self.title else self.content


@dataclass(frozen=True)
class Triage:
    """Everything a decision needs, built once at start: the organisation, gazetteer, rules and fitted models."""

    org: Organisation
    gazetteer: Gazetteer
    rules: DutyRules
    models: TextScorer
    review_threshold: float
    cues: ComplexityCues = ComplexityCues()
    catalogue: Catalogue | None = None
    segmenter: Segmenter | None = None
    memory: OfficerMemory | None = None
    units: UnitNames | None = None

    @property
    def coordinators(self) -> tuple[str, ...]:
        """The units of the catch-all category: they coordinate (营商办), and take what no unit's duty covers."""
        return tuple(self.org.fallback_category.departments) if self.org.categories else ()

    @property
    def complex_start_level(self) -> int:
        """Complex cases start with the second rung of the ladder (the leader in charge), not the unit."""
        levels = sorted(level.level for level in self.org.escalation_levels)
        return levels[1] if len(levels) > 1 else levels[0]

    @property
    def first_level(self) -> int:
        return min(level.level for level in self.org.escalation_levels)

    def escalation_for(self, complexity: str) -> int:
        return self.complex_start_level if complexity == COMPLEX else self.first_level

    def department_scores(self, text: str, model: Mapping[str, float],
                          matters: Mapping[str, float] | None = None) -> tuple[dict[str, float], dict[str, float]]:
        """(fused probabilities, rule scores) per department: the classifier, the lexicon's words and the matters
        of the catalogue (the duties), each normalised to shares."""
        rules = self.rules.scores(text)
        total = sum(rules.values())
        matters = matters or {}
        matter_total = sum(matters.values())
        cat_share = CATALOGUE_SHARE if matter_total else 0.0
        rule_share = RULE_SHARE * (1 - cat_share) if total else 0.0
        model_share = 1 - cat_share - rule_share
        fused = {code: model_share * model.get(code, 0.0)
                 + (rule_share * rules.get(code, 0.0) / total if total else 0.0)
                 + (cat_share * matters.get(code, 0.0) / matter_total if matter_total else 0.0)
                 for code in set(model) | set(rules) | set(matters)}
        return fused, rules

    def read(self, text: str) -> tuple[str, list[MatterHit]]:
        """The matter of a case (places masked, framing removed) and the catalogue's matters named in it."""
        matter = split_frame(self.gazetteer.mask(text)).matter
        if self.catalogue is None:
            return matter, []
        tokens = self.segmenter.tokens(matter) if self.segmenter is not None else None
        return matter, self.catalogue.find(matter, tokens)

    def propose(self, case: Case, duplicate: DuplicateMatch | None = None,
                duplicate_confidence: float = 0.0, recurrence_of: str | None = None) -> Proposal:
        text = case.text
        region = self.gazetteer.locate(text, case.region_hint, case.enterprise_name, self.org)
        if duplicate is not None:
            why = duplicate.why or f"相似度 {duplicate.similarity:.2f}"
            return Proposal(DUPLICATE, None, (), region.region, None, None,
                            needs_review=duplicate_confidence < self.review_threshold,
                            confidence={"screening": round(duplicate_confidence, 2)},
                            reason=f"与案件 {duplicate.case_id} 反映的是同一问题（{why}）",
                            duplicate_of=duplicate.case_id)
        if len(normalise(case.content)) < MIN_CONTENT_CHARS:
            return Proposal(UNCLEAR, None, (), region.region, None, None, False, {"screening": SHORT_CONFIDENCE},
                            "问题描述过短，请补充说明")
        scores = self.models.scores(text)
        # the rules read the matter only: place names and the channel's framing name no unit
        matter, hits = self.read(text)
        found = unit_scores(hits)
        fused, rules = self.department_scores(matter, scores.department, found)
        evidence_total = sum(rules.values()) + CATALOGUE_SCREENING_WEIGHT * len(hits)
        screening_scores = self.screening_scores(scores.screening, evidence_total)
        screening = max(screening_scores, key=lambda k: (screening_scores[k], k))
        screening_conf = round(screening_scores[screening], 2)
        if screening == ACCEPTED and personal_matter(case):
            screening, screening_conf = NON_BUSINESS, PERSONAL_CONFIDENCE
        officer = self.memory.nearest(matter) if self.memory is not None else None
        matters = tuple((h.matter.name, h.matter.unit) for h in hits)
        if officer is not None and (officer[0].screening != ACCEPTED or officer[0].department):
            return self.as_officer_decided(officer[0], officer[1], region, matters, recurrence_of)
        if screening != ACCEPTED:
            reason = "不属于营商环境问题" if screening == NON_BUSINESS else "问题描述不清，请企业补充具体情况"
            return Proposal(screening, None, (), region.region, None, None,
                            needs_review=screening_conf < self.review_threshold,
                            confidence={"screening": screening_conf}, reason=reason, matters=matters)
        named = self.units.mentioned(matter) if self.units is not None else []
        lead, lead_conf = self.lead_of(matter, fused, found, scores.department, named)
        co = self.co_of(case, matter, lead, hits, rules, named)
        evidence = self.cues.complex_evidence(matter, units=len(co) + 1)
        complexity, complexity_conf = self.complexity_of(scores.complexity, co, evidence, derived=bool(found))
        confidence = {"screening": screening_conf, "department": lead_conf,
                      "region": region.confidence, "complexity": complexity_conf}
        # No place at all is no doubt: the county-level unit takes it. Places of several regions are a doubt.
        low = sorted(name for name, value in confidence.items()
                     if value < self.review_threshold and not (name == "region" and region.region is None))
        reason = self.explain(lead, co, matters, complexity, evidence, region.evidence, recurrence_of)
        if low:
            reason += f"；待人工研判（置信度低：{'、'.join(FIELD_NAMES.get(name, name) for name in low)}）"
        return Proposal(ACCEPTED, lead, co, region.region, complexity, self.escalation_for(complexity),
                        needs_review=bool(low), confidence=confidence, reason=reason,
                        recurrence_of=recurrence_of, matters=matters)

    def lead_of(self, matter: str, fused: Mapping[str, float], found: Mapping[str, float],
                model: Mapping[str, float], named: list[str]) -> tuple[str, float]:
        """The lead unit and its confidence: the fused scores, unless the case asks a unit to act on its own
        matter, or names one unit and no matter."""
        lead = max(fused, key=lambda k: (fused[k], k))
        lead_conf = margin_confidence(fused, lead)
        if found.get(lead) and model and max(model, key=lambda k: model[k]) == lead:
            lead_conf = max(lead_conf, 0.9)  # the duty and the examples agree
        asked = self.units.addressed(matter) if self.units is not None else []
        # The unit asked to act leads when the case is about its matters, or names no matter at all ("希望经信部门
        # 和供电公司研究临时供电": the capacity increase is the power company's, whoever is asked first).
        leading = [code for code in asked if found.get(code)] or (asked if not found else [])
        if not leading and not found and len(named) == 1:
            leading = named  # the one unit the case names ("应急局来检查说要整改…没人来复查")
        if not leading:
            return lead, lead_conf
        if leading[0] != lead:
            return leading[0], max(ADDRESSED_CONFIDENCE, fused.get(leading[0], 0.0))
        return lead, max(lead_conf, ADDRESSED_CONFIDENCE)

    def co_of(self, case: Case, matter: str, lead: str, hits: Sequence[MatterHit], rules: Mapping[str, float],
              named: Sequence[str]) -> tuple[str, ...]:
        """The other units that must act (co_departments, below), less what the case only mentions in passing."""
        # A service matter (茶叶产业服务, 浙里办) says who the enterprise is or how it applies, not that its unit must
        # act: it names a co-department only when the case names that unit too (`named`, below).
        acting = unit_scores(h for h in hits if h.matter.kind not in CONTEXT_KINDS)
        several = SEVERAL_UNITS.search(matter) is not None
        co = self.co_departments(lead, acting, rules, several=several)
        # The coordinating unit (营商办, the catch-all's) screens and dispatches every case: a co-department only
        # when the case names it (in the blind sets its words made 40 false co-departments for 2 right ones).
        co = tuple(c for c in co if c not in self.coordinators)
        if case.channel in self.cues.own_voice and not several:
            # An owner's own words of other units' matters are mostly context (its 民宿, its export order, the ID
            # numbers it types): of those, only the matter it leads with when it addressed another unit, which
            # then leads; and the units it names.
            first = hits[0].matter.unit if hits and lead in named else None
            co = tuple(c for c in co if c == first)
        return tuple(dict.fromkeys([*co, *(c for c in named if c != lead)]))  # the units it says are involved

    @staticmethod
    def co_departments(lead: str, found: Mapping[str, float], rules: Mapping[str, float],
                       several: bool = False) -> tuple[str, ...]:
        """The other units the case needs (multi-label): every other unit whose matter the text names, and units
        whose own words weigh a duty phrase's worth or more (any of their words, when the text says that
        several departments are involved)."""
        named = {code for code, score in found.items() if code != lead and score >= CO_DEPARTMENT_MIN_MATTERS}
        least = LEXICON_WEIGHT if several else CO_DEPARTMENT_MIN_RULE
        worded = {code for code, score in rules.items() if code != lead and score >= least}
        weight = {code: found.get(code, 0.0) * 2 + rules.get(code, 0.0) for code in named | worded}
        return tuple(sorted(named | worded, key=lambda code: (-weight[code], code)))

    def explain(self, lead: str, co: tuple[str, ...], matters: tuple[tuple[str, str], ...], complexity: str,
                evidence: str | None, region_evidence: str, recurrence_of: str | None) -> str:
        """Why, in Chinese: the matters and units found, the lead and co-departments, the "123" grade, the place."""
        names = {d.code: d.name for d in self.org.departments}
        parts = []
        if matters:
            parts.append("事项：" + "、".join(f"{m}（{names.get(u, u)}）" for m, u in matters[:6]))
        parts.append(f"牵头 {names.get(lead, lead)}"
                     + (f"，协办 {'、'.join(names.get(c, c) for c in co)}" if co else ""))
        if complexity == COMPLEX:
            parts.append(f"复杂问题：{evidence or '职能交叉'}")
        elif complexity == GENERAL:
            parts.append(f"一般问题：涉及 {len(co) + 1} 个单位职权" if co else "一般问题")
        else:
            parts.append("简单问题：承办单位内部办理")
        parts.append(f"属地依据：{place_evidence(region_evidence)}")
        if recurrence_of:
            parts.append(f"已销号案件 {recurrence_of} 的问题再次出现")
        return "；".join(parts)

    def as_officer_decided(self, officer: Correction, similarity: float, region: Any,
                           matters: tuple[tuple[str, str], ...], recurrence_of: str | None) -> Proposal:
        """A case worded like one an officer decided: the officer's answer, at once (no restart, no refit)."""
        reason = f"与人工研判过的案件 {officer.case_id} 表述相近（相似度 {similarity:.2f}），沿用其研判结果"
        if officer.screening != ACCEPTED or not officer.department:
            return Proposal(officer.screening, None, (), region.region, None, None, False,
                            {"screening": OFFICER_CONFIDENCE}, reason, matters=matters)
        complexity = officer.complexity or (GENERAL if officer.co_departments else SIMPLE)
        confidence = {"screening": OFFICER_CONFIDENCE, "department": OFFICER_CONFIDENCE,
                      "region": region.confidence, "complexity": OFFICER_CONFIDENCE}
        low = region.region is not None and region.confidence < self.review_threshold
        return Proposal(ACCEPTED, officer.department, tuple(officer.co_departments), region.region, complexity,
                        self.escalation_for(complexity), needs_review=low, confidence=confidence, reason=reason,
                        recurrence_of=recurrence_of, matters=matters)

    @staticmethod
    def screening_scores(model: Mapping[str, float], rule_total: float) -> dict[str, float]:
        """The classifier's screening, moved toward "accepted" by the duty words the text names: a text that
        names two or more of a unit's matters is about doing business."""
        evidence = min(rule_total / (2 * DUTY_WEIGHT), 1.0) * RULE_SCREENING_SHARE
        return {label: (1 - evidence) * p + (evidence if label == ACCEPTED else 0.0) for label, p in model.items()}

    @staticmethod
    def complexity_of(model: Mapping[str, float], co_departments: tuple[str, ...],
                      complex_evidence: str | None = None, derived: bool = False) -> tuple[str, float]:
        """The policy's "123": overlapping or unclear duties, or an important project held back, make a case
        complex; several units make it general (spanning several departments' powers); one unit simple. Derived
        from the units found when the catalogue named the matter; else the classifier, raised to general when
        other units were found."""
        if complex_evidence is not None:
            return COMPLEX, max(COMPLEX_RULE_CONFIDENCE, margin_confidence(model, COMPLEX))
        best = max(model, key=lambda k: (model[k], k))
        if derived:
            grade = GENERAL if co_departments else SIMPLE
            if best != grade and model[best] >= MODEL_OVERRULES_DERIVED:
                return best, margin_confidence(model, best)
            return grade, max(DERIVED_CONFIDENCE, margin_confidence(model, grade))
        if best == SIMPLE and co_departments:
            merged = {GENERAL: model.get(GENERAL, 0.0) + model.get(SIMPLE, 0.0), COMPLEX: model.get(COMPLEX, 0.0)}
            return GENERAL, margin_confidence(merged, GENERAL)
        return best, margin_confidence(model, best)


def place_evidence(evidence: str) -> str:
    """What decided the region (gazetteer.RegionGuess.evidence), in Chinese for the officer."""
    kind, _, name = evidence.partition(":")
    return {"hint": "渠道提供的地点", "text": f"文中地名“{name}”", "enterprise": f"企业名称中的“{name}”",
            "county-wide": "全县性问题，不归一个乡镇", "several regions": "涉及多个乡镇",
            "none": "未提及地点，由县级单位办理"}.get(kind, evidence)


def triaged_data(proposal: Proposal, decided_by: DecidedBy) -> Triaged:
    return Triaged(screening=proposal.screening, duplicate_of=proposal.duplicate_of, department=proposal.department,
                   co_departments=list(proposal.co_departments), region=proposal.region,
                   complexity=proposal.complexity, decided_by=decided_by, needs_review=proposal.needs_review,
                   confidence=proposal.confidence, reason=proposal.reason, recurrence_of=proposal.recurrence_of)


def events_for(proposal: Proposal, *, cause: str, case_id: str, now: datetime, org: Organisation, tz: ZoneInfo,
               decided_by: DecidedBy = "auto") -> list[CaseEvent]:
    """`case.triaged` always; `case.assigned` too when the case is accepted and needs no officer."""
    events = [CaseEvent.new(cause=cause, type="case.triaged", case_id=case_id, occurred_at=now,
                            data=triaged_data(proposal, decided_by))]
    if proposal.screening == ACCEPTED and not proposal.needs_review:
        if not (proposal.department and proposal.complexity and proposal.escalation_level):
            raise ValueError("an accepted decision needs a department, a complexity and an escalation level")
        days = org.complexity_of(proposal.complexity).days
        assigned = Assigned(
            department=proposal.department, co_departments=list(proposal.co_departments), region=proposal.region,
            complexity=proposal.complexity, escalation_level=proposal.escalation_level,
            due_at=add_working_days(now, days, tz),
        )
        events.append(CaseEvent.new(cause=cause, type="case.assigned", case_id=case_id, occurred_at=now,
                                    data=assigned))
    return events


def urged_event(case_id: str, *, cause: str, now: datetime, count: int, submission_id: str, channel: str,
                follow_up: str) -> CaseEvent:
    """`case.urged` on the open case an enterprise followed up on (催办); the follow-up case is its duplicate."""
    return CaseEvent.new(cause=cause, type="case.urged", case_id=case_id, occurred_at=now,
                         data=Urged(submission_id=submission_id, channel=channel, urge_count=count,
                                    follow_up_case_id=follow_up))
