"""rating's consumer of the case events: each event folds into the case file; some call for more (a supervision
to open, an excluded rating to note on its supervision, a follow-up of the case file)."""

from typing import Any

from services.rating import domain
from services.rating.deps import Deps
from services.rating.follow_ups import follow_up
from shared.contracts import case_events as ce
from shared.contracts.envelope import CaseEvent
from shared.runtime import CaseEventHandler
from shared.store import Applied


async def fold(event: CaseEvent, data: Any, deps: Deps) -> Applied:
    """Fold the event into the case file and publish what that caused (a referral, a reopening)."""
    applied = await deps.store.cases.apply(event.case_id, event.event_id,
                                           lambda doc: domain.fold(doc, event, data, deps.policy))
    await deps.ctx.emit(deps.store.cases, event.case_id, applied.events)
    return applied


def outcome(applied: Applied) -> str:
    return "duplicate" if applied.duplicate else "ok"


async def on_case_event(event: CaseEvent, data: Any, deps: Deps) -> str:
    """Any other type: the case file only."""
    return outcome(await fold(event, data, deps))


async def on_followed_event(event: CaseEvent, data: Any, deps: Deps) -> str:
    """Resolved, rated, revisited: the case file may now call for revisits or an invitation to rate."""
    applied = await fold(event, data, deps)
    await follow_up(deps, event.case_id)
    return outcome(applied)


async def on_referred(event: CaseEvent, data: ce.Referred, deps: Deps) -> str:
    """A referral opens the oversight unit's supervision of that resolution, with the case file."""
    applied = await fold(event, data, deps)
    number = data.round or applied.doc.get("round", 0)
    case = await deps.store.cases.get(event.case_id)
    await deps.store.supervisions.apply(f"{event.case_id}:{number}", event.event_id,
                                        lambda doc: domain.open_supervision(doc, event, data, case))
    await follow_up(deps, event.case_id)
    return outcome(applied)


async def on_rating_reviewed(event: CaseEvent, data: ce.RatingReviewed, deps: Deps) -> str:
    applied = await fold(event, data, deps)
    await note_exclusion(event, data, deps)
    return outcome(applied)


async def note_exclusion(event: CaseEvent, data: ce.RatingReviewed, deps: Deps) -> None:
    """An excluded rating that had started a supervision (and a reopening) is recorded on that supervision."""
    store = deps.store
    key = f"{event.case_id}:{data.round}"
    if data.decision != "excluded" or await store.get(store.supervisions, key) is None:
        return  # no referral came of this round: nothing to record (and no empty supervision to create)
    case = await store.cases.get(event.case_id)
    noted: list[dict[str, Any]] = []

    def decide(doc: dict[str, Any] | None) -> Any:
        change = domain.note_rating_excluded(doc, case, data, event.occurred_at)
        noted[:] = [change.set["rating_excluded"]] if change else []
        return change

    applied = await store.supervisions.apply(key, event.event_id, decide)
    if noted and not applied.duplicate:
        deps.ctx.log.warning("supervised_rating_excluded", supervision_id=key,
                             case_reopened=noted[0]["case_reopened"], by=data.by)


HANDLERS: dict[str, CaseEventHandler] = {
    "case.resolved": on_followed_event,
    "case.rated": on_followed_event,
    "case.revisited": on_followed_event,
    "case.referred": on_referred,
    "case.rating_reviewed": on_rating_reviewed,
    "*": on_case_event,
}
