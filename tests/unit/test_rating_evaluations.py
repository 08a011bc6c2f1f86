"""services.rating.evaluations: 营商办's evaluation of a round, once; the survey file read and checked row by row."""

import io
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from openpyxl import Workbook

from services.rating import evaluations as ev
from services.rating.domain import Policy, Refused

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 3, 5, 10, tzinfo=TZ)
POLICY = Policy(satisfied_levels=frozenset({"satisfied", "very_satisfied"}),
                level_names={"very_satisfied": "非常满意", "satisfied": "满意", "dissatisfied": "不满意"},
                oversight_unit="jiwei", oversight_name="县纪委县监委", tz=TZ)
UNITS = {"gongdian": "国网开化县供电公司", "fagai": "县发改局"}
DOC = {"_id": "c1", "round": 1, "department": "gongdian", "rounds": {"1": {"number": 1, "evaluations": {}}}}


def test_evaluate_records_once_per_source_and_round():
    change = ev.evaluate(DOC, case_id="c1", source="business_office", number=None, level="satisfied", score=None,
                         satisfied=True, comment="电话13812345678回访", by="yw.1", now=NOW, cause="x")
    [event] = change.events
    assert event.type == "case.evaluated" and event.data["round"] == 1 and event.data["satisfied"] is True
    assert event.data["comment"] == "电话138****5678回访" and event.data["department"] == "gongdian"
    done = {**DOC, "rounds": {"1": {"number": 1, **change.set["rounds"]["1"]}}}
    with pytest.raises(Refused) as refused:
        ev.evaluate(done, case_id="c1", source="business_office", number=1, level="satisfied", score=None,
                    satisfied=True, comment=None, by="yw.1", now=NOW, cause="y")
    assert refused.value.status == 409
    # another source may still evaluate the same round
    assert ev.evaluate(done, case_id="c1", source="third_party", number=1, level=None, score=90, satisfied=True,
                       comment=None, by="yw.1", now=NOW, cause="z").events
    with pytest.raises(Refused):
        ev.evaluate({"_id": "c2", "round": 0, "rounds": {}}, case_id="c2", source="third_party", number=None,
                    level=None, score=90, satisfied=True, comment=None, by="yw.1", now=NOW, cause="w")


@pytest.mark.parametrize("row, expected", [
    ({"tracking_no": "qh1", "level": "满意"}, ("QH1", None, "satisfied", None, True)),
    ({"tracking_no": "QH1", "unit": "县发改局", "score": "79.5"}, ("QH1", "fagai", None, 79.5, False)),
    ({"tracking_no": "QH1", "unit": "gongdian", "score": "80"}, ("QH1", "gongdian", None, 80.0, True)),
    ({"tracking_no": "QH1", "level": "dissatisfied", "score": "95"}, ("QH1", None, "dissatisfied", 95.0, False)),
])
def test_rows_that_pass(row, expected):
    checked = ev.check_row(row, POLICY, UNITS, 80.0)
    assert (checked.tracking_no, checked.unit, checked.level, checked.score, checked.satisfied) == expected


@pytest.mark.parametrize("row, message", [
    ({"level": "满意"}, "缺少查询编号"),
    ({"tracking_no": "QH1"}, "缺少评价或评分"),
    ({"tracking_no": "QH1", "level": "还行"}, "不是有效的评价等级"),
    ({"tracking_no": "QH1", "score": "九十"}, "不是数字"),
    ({"tracking_no": "QH1", "score": "101"}, "0到100"),
    ({"tracking_no": "QH1", "score": "nan"}, "0到100"),
    ({"tracking_no": "QH1", "unit": "县外单位", "score": "90"}, "不在单位名录"),
])
def test_rows_refused_in_chinese(row, message):
    with pytest.raises(ev.SurveyRowError, match=message):
        ev.check_row(row, POLICY, UNITS, 80.0)


def xlsx(rows):
    book = Workbook()
    for row in rows:
        book.active.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_read_survey_maps_the_chinese_header():
    rows = ev.read_survey(xlsx([["查询编号", "承办单位", "评分", "意见", "其他"], ["QH1", "县发改局", 92, "及时", "x"],
                                ["QH2", None, 85, "=HYPERLINK(\"http://x\")", None]]))
    # a formula cell is never taken as text (only a value the file stored for it: none here)
    assert rows == [{"tracking_no": "QH1", "unit": "县发改局", "score": "92", "comment": "及时"},
                    {"tracking_no": "QH2", "unit": "", "score": "85", "comment": ""}]


@pytest.mark.parametrize("raw, message", [
    (b"not a spreadsheet", "不是有效的Excel"),
    (xlsx([["企业", "评分"], ["x", 1]]), "查询编号"),
    (xlsx([["查询编号", "意见"], ["QH1", "好"]]), "评分"),
])
def test_unreadable_survey_files(raw, message):
    with pytest.raises(ev.SurveyFileError, match=message):
        ev.read_survey(raw)
