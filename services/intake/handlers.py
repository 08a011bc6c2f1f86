"""intake's consumers and its periodic job.

- The ingress topic (every channel, and the city platform through sync): one case per submission id.
- The case-events topic: every event folds into the case view behind GET /api/v1/cases/{case_id}.
- The sweep: events stored but never published, and spent proof budgets.
"""

from typing import Any

from pydantic import ValidationError

from services.intake import domain
from services.intake.deps import Deps
from services.intake.registration import SubmissionConflict, register
from shared.contracts.envelope import CaseEvent
from shared.contracts.submissions import Submission, parse_submission
from shared.messaging import BadMessage
from shared.org import Organisation
from shared.runtime import CaseEventHandler


def decode_submission(raw: bytes, org: Organisation) -> Submission:
    """A message of the ingress topic; one that is not a valid submission is dead-lettered with its fields."""
    try:
        return parse_submission(raw, org)
    except ValidationError as exc:
        raise BadMessage("invalid submission: " + "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors()),
            exc.errors(include_url=False, include_input=False))


async def on_submission(submission: Submission, deps: Deps) -> str:
    try:
        _, duplicate = await register(deps, submission)
    except SubmissionConflict as exc:  # dead-lettered with the reason; the first case stands
        raise BadMessage(str(exc), [{"type": "submission_id_reused", "loc": ["submission_id"], "msg": str(exc)}])
    return "duplicate" if duplicate else "ok"


async def on_case_event(event: CaseEvent, data: Any, deps: Deps) -> str:
    """Fold one event into the case view, once per event id."""
    applied = await deps.store.cases.apply(event.case_id, event.event_id, lambda doc: domain.project(doc, event))
    return "duplicate" if applied.duplicate else "ok"


# every type: the case view's history keeps every event (domain.project picks the fields it knows)
HANDLERS: dict[str, CaseEventHandler] = {"*": on_case_event}


async def sweep(deps: Deps) -> None:
    await deps.ctx.sweep_outbox(deps.store.registrations)
    await deps.store.forget_spent_budgets(deps.ctx.clock())
