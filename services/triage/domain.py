"""Triage rules, pure: screening, department routing from the organisation's duties, region, complexity.

A first, keyword-based router: each department's duties (and their two-character parts) are its keywords.
The real triage (gazetteer, similarity, officer review) replaces the scoring, not the decision shape.
"""

import hashlib
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

from shared.contracts.case_events import Assigned, Registered, Triaged
from shared.contracts.envelope import CaseEvent
from shared.org import Organisation
from shared.workdays import add_working_days

MIN_CONTENT_CHARS = 6
FULL_DUTY_WEIGHT = 3
PART_WEIGHT = 1
REGION_SUFFIXES = ("办事处", "镇", "乡")


@dataclass(frozen=True)
class Decision:
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


def _parts(duty: str) -> list[str]:
    """Two-character pieces of a duty phrase (Chinese compounds are mostly built of two-character words)."""
    return [duty[i:i + 2] for i in range(0, len(duty) - 1, 2)] if len(duty) >= 4 else []


@lru_cache(maxsize=8)
def _keywords(org: Organisation) -> dict[str, list[tuple[str, int]]]:
    table: dict[str, list[tuple[str, int]]] = {}
    for dept in org.departments:
        words: dict[str, int] = {}
        for duty in dept.duties:
            words[duty] = FULL_DUTY_WEIGHT
            for part in _parts(duty):
                words.setdefault(part, PART_WEIGHT)
        table[dept.code] = sorted(words.items())
    return table


def department_scores(text: str, org: Organisation) -> dict[str, int]:
    scores = {}
    for code, words in _keywords(org).items():
        score = sum(weight for word, weight in words if word in text)
        if score:
            scores[code] = score
    return scores


def find_region(texts: list[str], hint: str | None, org: Organisation) -> str | None:
    if hint:
        for region in org.regions:
            if hint in (region.code, region.name):
                return region.code
    for text in texts:
        for region in org.regions:
            short = region.name.split("(")[0]
            for suffix in REGION_SUFFIXES:
                short = short.removesuffix(suffix)
            if region.name in text or (len(short) >= 2 and short in text):
                return region.code
    return None


def normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).lower()
    return re.sub(r"[\s\W_]+", "", text)


def fingerprint(enterprise_name: str, uscc: str | None, content: str) -> str:
    """Same enterprise, same words (ignoring spacing and punctuation): the cheap duplicate test."""
    who = (uscc or "").strip().upper() or normalise(enterprise_name)
    return hashlib.sha256(f"{who}|{normalise(content)}".encode()).hexdigest()


def decide(registered: Registered, org: Organisation, *, review_threshold: float,
           duplicate_of: str | None = None) -> Decision:
    content = registered.content.strip()
    if duplicate_of:
        return Decision("duplicate", None, (), None, None, None, False, {"screening": 0.95},
                        "同一企业的相同问题已在办理", duplicate_of=duplicate_of)
    if len(normalise(content)) < MIN_CONTENT_CHARS:
        return Decision("unclear", None, (), None, None, None, False, {"screening": 0.9}, "问题描述过短，请补充说明")
    text = f"{registered.title or ''} {content}"
    scores = department_scores(text, org)
    region = find_region([text, registered.enterprise.name], registered.region_hint, org)
    ranked = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))
    if not ranked:
        lead, co, dept_conf = org.fallback_category.departments[0], (), 0.2
        reason = "未匹配到职能关键词，由综合协调单位牵头，待人工研判"
    else:
        lead, top = ranked[0]
        second = ranked[1][1] if len(ranked) > 1 else 0
        co = tuple(code for code, score in ranked[1:4] if score >= max(2, top / 2))
        dept_conf = min(0.95, 0.4 + 0.15 * top) if top > second else 0.5
        reason = f"按职能关键词匹配：{lead}"
    complexity = "simple" if not co else "general"
    level = 1
    return Decision(
        screening="accepted", department=lead, co_departments=co, region=region, complexity=complexity,
        escalation_level=level, needs_review=dept_conf < review_threshold,
        confidence={"screening": 0.8, "department": round(dept_conf, 2), "region": 0.9 if region else 0.0,
                    "complexity": round(dept_conf, 2)},
        reason=reason,
    )


def events_for(decision: Decision, *, cause: str, case_id: str, now: datetime, org: Organisation,
               tz: ZoneInfo) -> list[CaseEvent]:
    """`case.triaged` always; `case.assigned` too when the case is accepted and needs no officer."""
    triaged = Triaged(
        screening=decision.screening, duplicate_of=decision.duplicate_of, department=decision.department,
        co_departments=list(decision.co_departments), region=decision.region, complexity=decision.complexity,
        decided_by="auto", needs_review=decision.needs_review, confidence=decision.confidence, reason=decision.reason,
    )
    events = [CaseEvent.new(cause=cause, type="case.triaged", case_id=case_id, occurred_at=now, data=triaged)]
    if decision.screening == "accepted" and not decision.needs_review:
        assert decision.department and decision.complexity and decision.escalation_level
        days = org.complexity_of(decision.complexity).days
        assigned = Assigned(
            department=decision.department, co_departments=list(decision.co_departments), region=decision.region,
            complexity=decision.complexity, escalation_level=decision.escalation_level,
            due_at=add_working_days(now, days, tz),
        )
        events.append(CaseEvent.new(cause=cause, type="case.assigned", case_id=case_id, occurred_at=now, data=assigned))
    return events
