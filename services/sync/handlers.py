"""sync's case-event handler: every case event folds into the case's link document, which records the
deliveries owed to the remote sides in the same write (the dispatcher sends them, jobs.py)."""

from typing import Any

from services.sync import domain
from services.sync.deps import Deps
from shared.contracts.envelope import CaseEvent


async def on_case_event(event: CaseEvent, data: Any, deps: Deps) -> str:
    """Any type: the rules (domain.fold) decide what the remote sides hear of it; the day's figures count it."""
    store, ctx = deps.store, deps.ctx
    if deps.settings.sync_city_figures and (marks := domain.figure_marks(event, ctx.settings.tz)):
        await store.mark_figures(event.case_id, marks)
    applied = await store.links.apply(event.case_id, event.event_id,
                                      lambda doc: domain.fold(doc, event, deps.rules, ctx.clock()))
    await ctx.emit(store.links, event.case_id, applied.events)
    return "duplicate" if applied.duplicate else "ok"


HANDLERS = {"*": on_case_event}
