"""services.triage.engine: one decision linked to the earlier case it repeats, named by its tracking number."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from services.triage import duplicates, engine
from services.triage.catalogue import load_catalogue
from services.triage.classifier import Scores
from services.triage.domain import Case, DutyRules, Triage, load_complexity_cues, load_lexicon
from services.triage.dup_index import DuplicateIndex
from services.triage.gazetteer import load_gazetteer
from services.triage.segment import Segmenter
from services.triage.units import load_unit_names
from shared.org import load_organisation

ORG = load_organisation()
CATALOGUE = load_catalogue(ORG)
NOW = datetime(2026, 8, 3, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))


class PowerScorer:
    def scores(self, text: str) -> Scores:
        return Scores({"accepted": 0.95, "non_business": 0.03, "unclear": 0.02}, {"gongdian": 0.8, "jingxin": 0.1},
                      {"simple": 0.8, "general": 0.15, "complex": 0.05})


TRIAGE = Triage(ORG, load_gazetteer(ORG), DutyRules.build(ORG, load_lexicon()), PowerScorer(), 0.6,
                load_complexity_cues(), CATALOGUE, Segmenter.build(ORG, CATALOGUE.words()), None,
                load_unit_names(ORG))
VOCABULARY = duplicates.Vocabulary.build(["企业反映停电", "企业反映用地", "企业反映招工"] * 5)


def decide(index: DuplicateIndex, case_id: str, text: str, name: str, phone: str, at: datetime) -> engine.Assessment:
    found = engine.assess(TRIAGE, VOCABULARY, index, case_id, Case(text, name), engine.Who(name, None, phone), at,
                          90, 200)
    p = found.proposal
    index.sync({"_id": case_id, "screening": p.screening, "dup_keys": found.keys, "text": text,
                "enterprise_key": found.enterprise, "region": p.region, "department": p.department,
                "identity": found.identity, "matters": [m for m, _ in p.matters], "co_departments": p.co_departments,
                "registered_at": at, "closed": False, "tracking_no": f"QH{case_id}"})
    return found


def test_one_outage_told_by_two_enterprises_is_one_case_named_by_its_tracking_number():
    index = DuplicateIndex()
    first = decide(index, "1", "开发区园区路这边从昨天晚上到现在停了三次电了 机器一停料全废 麻烦赶紧看看",
                   "开化县甲五金有限公司", "138****0001", NOW)
    assert first.proposal.screening == "accepted" and first.proposal.region == "kaifaqu"
    told = "来电人反映：其公司位于开化经济开发区园区路，自昨晚至今园区路沿线反复停电，请求排查线路故障"
    second = decide(index, "2", told, "开化县乙塑业有限公司", "139****0002", NOW + timedelta(hours=3))
    assert (second.proposal.screening, second.proposal.duplicate_of) == ("duplicate", "1")
    assert "与案件 QH1 反映的是同一问题" in second.proposal.reason and "同一供电问题" in second.proposal.reason
    assert second.follow_up_of is None  # another enterprise's: no 催办 on the first
    # the same outage told again three weeks later is a new problem
    later = decide(index, "3", "园区路又停电了，机器都停了", "开化县丙电子有限公司", "137****0003",
                   NOW + timedelta(days=21))
    assert later.proposal.screening == "accepted"
