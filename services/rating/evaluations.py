"""营商办's own evaluation of a resolution and a third-party survey's (第三方评价), pure.

Beside the enterprise's rating (企业评价为主), the county's business office and a survey company evaluate the same
resolution rounds (营商部门和第三方评价为辅). Each source evaluates a round at most once; the evaluation becomes a
`case.evaluated` event, which rating and insight both fold. The weights that combine the sources are in the
organisation file (`evaluation_weights`); the figures are in shared/figures.py.

A survey arrives as the survey company's spreadsheet: one row per case (查询编号, optionally 承办单位), a level
(满意 …) or a score (0-100), a comment. Each row is checked on its own and reported in Chinese; a row for a round
that already has a third-party evaluation is reported as already imported and changes nothing.
"""

import copy
import io
import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.rating.domain import Policy, Refused, _change, evaluation_entry
from shared.contracts import case_events as ce
from shared.contracts.envelope import CaseEvent
from shared.masking import mask_text
from shared.refusal import Refusal

SOURCE_NAMES = {"business_office": "营商办评价", "third_party": "第三方评价"}


def evaluate(doc: dict[str, Any] | None, *, case_id: str, source: str, number: int | None, level: str | None,
             score: float | None, satisfied: bool, comment: str | None, by: str, now: datetime,
             cause: str) -> Any:
    """Record one source's evaluation of a resolution round (the current one when `number` is None)."""
    if doc is None or doc.get("round", 0) == 0:
        raise Refused(404, "该问题尚未办结，不能评价", "not_resolved")
    number = number or doc["round"]
    current = doc["rounds"].get(str(number))
    if current is None:
        raise Refused(404, f"该问题没有第{number}次办理", "unknown_round")
    if source in current.get("evaluations", {}):
        raise Refused(409, f"该次办理已有{SOURCE_NAMES[source]}", "already_evaluated")
    new = copy.deepcopy(doc)
    data = ce.Evaluated(source=source, round=number, satisfied=satisfied, level=level, score=score,  # type: ignore[arg-type]
                        comment=mask_text(comment) if comment else None, by=by, department=doc.get("department"))
    event = CaseEvent.new(cause=cause, type="case.evaluated", case_id=case_id, occurred_at=now, data=data)
    new["rounds"][str(number)].setdefault("evaluations", {})[source] = evaluation_entry(data, now, event.event_id)
    return _change(doc, new, [event], None)


# ------------------------------------------------------------------------------------------------ the survey file

SURVEY_COLUMNS = {
    "tracking_no": ("查询编号", "受理编号", "问题编号", "编号", "tracking_no"),
    "unit": ("承办单位", "单位", "责任单位", "unit"),
    "score": ("评分", "分数", "得分", "满意度评分", "score"),
    "level": ("评价", "评价等级", "满意度", "等级", "level"),
    "comment": ("意见", "评价意见", "备注", "comment"),
}
_HEADER = {h.lower(): f for f, names in SURVEY_COLUMNS.items() for h in names}
MAX_ROWS = 5000


class SurveyFileError(Refusal):
    """The file as a whole cannot be read: 422, the message shown to people (Chinese)."""

    def __init__(self, message: str):
        super().__init__(422, message, detail=[{"field": "file", "msg": message}])


def read_survey(raw: bytes) -> list[dict[str, str]]:
    """The rows of a survey company's xlsx file, keyed by field (first row: the header)."""
    from openpyxl import load_workbook  # only imports need it

    try:
        workbook = load_workbook(io.BytesIO(raw), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises several types for a file that is not xlsx
        raise SurveyFileError("不是有效的Excel（xlsx）文件") from exc
    try:
        rows = [list(r) for _, r in zip(range(MAX_ROWS + 2), workbook.worksheets[0].iter_rows(values_only=True))]
    finally:
        workbook.close()
    if not rows:
        raise SurveyFileError("文件为空")
    header = [_HEADER.get(str(h or "").strip().lower()) for h in rows[0]]
    if "tracking_no" not in header:
        raise SurveyFileError("第一行应为表头，且须有“查询编号”列")
    if "score" not in header and "level" not in header:
        raise SurveyFileError("表头须有“评分”或“评价”列")
    if len(rows) > MAX_ROWS + 1:
        raise SurveyFileError(f"一次最多导入{MAX_ROWS}行")
    out = []
    for cells in rows[1:]:
        row = {f: _cell(v) for f, v in zip(header, cells, strict=False) if f}
        out.append(row)
    return out


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


@dataclass(frozen=True)
class SurveyRow:
    tracking_no: str
    unit: str | None
    level: str | None
    score: float | None
    satisfied: bool
    comment: str | None


def check_row(row: dict[str, str], policy: Policy, units: dict[str, str], satisfied_score: float) -> SurveyRow:
    """A row as an evaluation, or SurveyRowError naming what is wrong (Chinese). `units`: code -> name."""
    tracking = row.get("tracking_no", "").strip().upper()
    if not tracking:
        raise SurveyRowError("缺少查询编号")
    unit_text = row.get("unit", "").strip()
    unit = None
    if unit_text:
        unit = unit_text if unit_text in units else next((c for c, n in units.items() if n == unit_text), None)
        if unit is None:
            raise SurveyRowError(f"承办单位“{unit_text}”不在单位名录中")
    level_text, score_text = row.get("level", "").strip(), row.get("score", "").strip()
    level = score = None
    if level_text:
        level = level_text if level_text in policy.level_names else next(
            (c for c, n in policy.level_names.items() if n == level_text), None)
        if level is None:
            raise SurveyRowError(f"评价“{level_text}”不是有效的评价等级（{'、'.join(policy.level_names.values())}）")
    if score_text:
        try:
            score = float(score_text)
        except ValueError:
            raise SurveyRowError(f"评分“{score_text}”不是数字") from None
        if not math.isfinite(score) or not 0 <= score <= 100:
            raise SurveyRowError("评分应在0到100之间")
    if level is None and score is None:
        raise SurveyRowError("缺少评价或评分")
    satisfied = level in policy.satisfied_levels if level is not None else score >= satisfied_score  # type: ignore[operator]
    comment = row.get("comment", "").strip()[:1000] or None
    return SurveyRow(tracking_no=tracking, unit=unit, level=level, score=score, satisfied=satisfied, comment=comment)


class SurveyRowError(ValueError):
    pass
