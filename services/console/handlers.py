"""The console's read model, folded from the case events: every event type the same way (domain.case_change),
so one handler takes them all."""

from typing import Any

from services.console import domain
from services.console.deps import Deps
from shared.contracts.envelope import CaseEvent
from shared.store import Change


async def on_case_event(event: CaseEvent, data: Any, deps: Deps) -> str:
    """Fold one event into the case's document (once per event id) and refresh its search row."""

    def apply(doc: dict[str, Any] | None) -> Change:
        fields, entry = domain.case_change(doc, event_id=event.event_id, event_type=event.type,
                                           occurred_at=event.occurred_at, data=event.data)
        return Change(set=fields, push={"timeline": entry})

    applied = await deps.store.cases.apply(event.case_id, event.event_id, apply)
    # also on a repeat: the slim copy may be what a crash left unwritten (rewriting it is harmless). The tracking
    # number is set by `case.registered` alone, so its mapping is written then (or on a repeat), not on every event.
    with_tracking = event.type == "case.registered" or applied.duplicate
    deps.index.put(await deps.store.index(applied.doc, with_tracking=with_tracking))
    return "duplicate" if applied.duplicate else "ok"


HANDLERS = {"*": on_case_event}
