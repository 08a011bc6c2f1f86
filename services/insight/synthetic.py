"""Realistic case-event sequences, for the benchmark, the tests and a demo (never used by the running service).

Each case goes registered -> triaged -> assigned -> accepted -> resolved -> rated, with some overdue,
escalated, reopened, referred and duplicate ones. Codes come from the organisation file.
"""

import random
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from shared.contracts.envelope import CaseEvent, derived_id
from shared.org import Organisation

THEMES = [
    ("电力增容申请三个月没有答复，工业园区经常停电影响生产", "供电公司已完成线路改造，增容到位", "gongdian"),
    ("企业招工困难，缺少熟练技术工人，希望组织招聘会", "人社局组织专场招聘会，推荐技术工人", "renshe"),
    ("技改项目补助资金迟迟没有兑付", "财政局已完成补助资金拨付", "caizheng"),
    ("厂区门口道路坑洼，货车通行困难", "交通局已安排道路修补", "jiaotong"),
    ("排污许可证延续办理时间太长", "生态环境分局开通绿色通道完成延续", "shengtai"),
    ("企业流动资金紧张，申请转贷应急资金", "金融服务中心协调银行办理转贷", "jinrong"),
    ("新厂房消防验收排队时间长", "住建局安排专人上门验收", "zhujian"),
    ("留抵退税申请材料反复退回", "税务局一次性告知材料并完成退税", "shuiwu"),
    ("员工子女入学名额不足", "教育局协调就近学校解决入学", "jiaoyu"),
    ("工业用地规划许可审批进度慢", "自然资源局并联审批加快许可", "ziranziyuan"),
]
VARIANTS = ["，请尽快协调解决", "，已经影响正常经营", "，多次反映未果", "", "，希望相关部门帮助"]


Step = tuple[str, datetime, dict[str, Any]]  # (event type, when, data) of one event to make


def generate(org: Organisation, cases: int, start: datetime, *, seed: int = 7, days: int = 120,
             liaisons: int = 12, industries: tuple[str, ...] = ("造纸", "新材料", "食品加工", "旅游")
             ) -> Iterator[CaseEvent]:
    """Events of `cases` cases received over `days` days from `start`; each case's events in order."""
    rng = random.Random(seed)
    regions = [r.code for r in org.regions]
    departments = org.department_codes
    levels = [r for r in org.rating_levels]
    for index in range(cases):
        case_id = derived_id("synthetic", str(seed), str(index))
        content, resolution, department = THEMES[rng.randrange(len(THEMES))]
        if department not in departments:
            department = org.departments[0].code
        region = rng.choice(regions)
        received = start + timedelta(seconds=rng.randrange(days * 86400))
        events: list[Step] = []
        events.append(("case.registered", received, {
            "submission_id": f"syn-{seed}-{index}", "channel": rng.choice(["hotline", "qrcode", "liaison"]),
            "tracking_no": f"QH{received:%Y%m%d}{index:06d}", "received_at": received.isoformat(),
            "enterprise": {"name": f"开化县样例{index % 500}有限公司", "contact_phone": "138****0000",
                           "industry": rng.choice(industries)},
            "content": content + rng.choice(VARIANTS),
            "liaison_officer": f"liaison{rng.randrange(liaisons)}" if rng.random() < 0.6 else None}))
        duplicate = rng.random() < 0.04
        t = received + timedelta(minutes=rng.randrange(1, 30))
        events.append(("case.triaged", t, {
            "screening": "duplicate" if duplicate else "accepted", "department": department, "region": region,
            "complexity": "normal", "decided_by": "auto", "needs_review": False}))
        if not duplicate:
            events += _handled(rng, department, region, t, resolution, levels)
        for kind, at, data in events:
            # model_construct: these are made here, not read; validating a million of them would dominate
            yield CaseEvent.model_construct(event_id=derived_id(case_id, kind, at.isoformat()), type=kind,
                                            version=1, case_id=case_id, occurred_at=at, data=data)


def _handled(rng: random.Random, department: str, region: str, t: datetime, resolution: str,
             levels: list[Any]) -> list[Step]:
    """A screened case from its assignment on: accepted, maybe overdue and escalated, mostly resolved."""
    events: list[Step] = []
    due = t + timedelta(days=rng.choice([1, 2, 3]))
    events.append(("case.assigned", t, {"department": department, "region": region, "complexity": "normal",
                                        "escalation_level": 0, "due_at": due.isoformat()}))
    t += timedelta(hours=rng.uniform(0.2, 30))
    events.append(("case.accepted", t, {"department": department, "by": f"{department}.h{rng.randrange(4)}"}))
    late = rng.random() < 0.12
    if late:
        events.append(("case.overdue", due, {"due_at": due.isoformat(), "escalation_level": 0}))
        if rng.random() < 0.5:
            events.append(("case.escalated", due + timedelta(hours=1),
                           {"from_level": 0, "to_level": 1, "reason": "overdue"}))
    open_case = rng.random() < 0.08
    if not open_case:
        events += _resolved(rng, department, t, due, late, resolution, levels)
    return events


def _resolved(rng: random.Random, department: str, t: datetime, due: datetime, late: bool, resolution: str,
              levels: list[Any]) -> list[Step]:
    """The resolution and its rating; an unsatisfied one is sometimes reopened (and referred), solved again."""
    events: list[Step] = []
    done = due + timedelta(days=rng.uniform(0.1, 6)) if late else t + timedelta(hours=rng.uniform(1, 40))
    done = min(done, due - timedelta(minutes=1)) if not late else done
    by = f"{department}.h{rng.randrange(4)}"
    events.append(("case.resolved", done, {"resolution": resolution, "resolved_at": done.isoformat(),
                                           "on_time": not late, "by": by}))
    level = levels[0] if rng.random() < 0.6 else rng.choice(levels)
    events.append(("case.rated", done + timedelta(hours=5), {
        "level": level.code, "satisfied": level.satisfied, "comment": None}))
    if not level.satisfied and rng.random() < 0.5:
        again = done + timedelta(days=1)
        events.append(("case.reopened", again, {"reason": "不满意", "due_at": (again + timedelta(days=3))
                                                .isoformat()}))
        if rng.random() < 0.2:
            events.append(("case.referred", again, {"to": "jiwei", "reason": "多次不满意"}))
        fixed = again + timedelta(days=1)
        events.append(("case.resolved", fixed, {"resolution": resolution + "（再次办理）",
                                                "resolved_at": fixed.isoformat(), "on_time": True, "by": by}))
        events.append(("case.rated", fixed + timedelta(hours=2), {
            "level": levels[1].code, "satisfied": levels[1].satisfied, "comment": None}))
    return events
