"""The case library (典型服务案例) and the register of long-term mechanisms (长效机制): request bodies and the
pure rules about them (what may be marked typical, how the library is searched)."""

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from services.insight.domain import SOLVED_STATES
from shared.refusal import Refusal


class LibraryEntryBody(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    case_id: str = Field(min_length=1, max_length=64)
    title: str = Field(min_length=2, max_length=100)
    summary: str = Field(min_length=10, max_length=5000)  # what the problem was, how it was solved, what to learn
    tags: list[str] = Field(default_factory=list, max_length=10)


MechanismStatus = Literal["proposed", "drafting", "adopted", "retired"]


class MechanismBody(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    title: str = Field(min_length=2, max_length=200)
    description: str = Field(min_length=2, max_length=10_000)
    unit: str | None = Field(default=None, max_length=64)  # the lead unit of the fix
    group_ids: list[str] = Field(default_factory=list, max_length=50)  # problem groups it answers
    status: MechanismStatus = "proposed"
    document_ref: str | None = Field(default=None, max_length=200)  # e.g. the number of the policy document


class NotTypical(Refusal):
    """The case cannot be a typical case (409 to whoever asked)."""

    def __init__(self, message: str):
        super().__init__(409, message)


def library_entry(body: LibraryEntryBody, facts: dict[str, Any], marked_by: str, now: datetime) -> dict[str, Any]:
    """A typical case: only a resolved (or closed) case can be one; its facts are copied so the entry stands alone."""
    if facts.get("state") not in SOLVED_STATES:
        raise NotTypical("只有已办结的问题才能列为典型案例")
    return {"_id": body.case_id, "title": body.title, "summary": body.summary, "tags": body.tags,
            "content": facts.get("content", ""), "resolution": facts.get("resolution", ""),
            "department": facts.get("department"), "region": facts.get("region"),
            "tracking_no": facts.get("tracking_no"), "satisfied": facts.get("satisfied"),
            "marked_by": marked_by, "marked_at": now}


def entry_text(entry: dict[str, Any]) -> str:
    return " ".join([entry.get("title", ""), entry.get("summary", ""), entry.get("content", ""),
                     entry.get("resolution", ""), " ".join(entry.get("tags", []))])


def search_library(query: str, entries: list[dict[str, Any]], limit: int) -> list[dict[str, Any]]:
    """Entries most like the query text (e.g. a new case's content), best first, with their score."""
    from services.insight import similarity  # scikit-learn: imported when first needed

    found = similarity.search(query, [entry_text(e) for e in entries], limit=limit)
    return [{**entries[index], "score": score} for index, score in found]
