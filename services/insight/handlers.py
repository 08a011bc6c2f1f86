"""insight's consumer of the case-events topic: every event folds into its case's facts (the projection)."""

from typing import Any

from services.insight import domain
from services.insight.deps import Deps
from shared.contracts.envelope import CaseEvent
from shared.runtime import CaseEventHandler
from shared.store import Change


async def fold_event(event: CaseEvent, data: Any, deps: Deps) -> str:
    """Fold one event into its case's facts, once per event id."""

    def decide(doc: dict[str, Any] | None) -> Change | None:
        fields = domain.fold(doc, event)
        return Change(set=fields) if fields else None

    applied = await deps.store.facts.apply(event.case_id, event.event_id, decide)
    return "duplicate" if applied.duplicate else "ok"


# every type: domain.fold picks what it knows (the facts also count events the folding ignores)
HANDLERS: dict[str, CaseEventHandler] = {"*": fold_event}
