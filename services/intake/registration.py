"""One case per submission id, whichever way the submission came in (the ingress topic, the submission API, a
channel's own route): the tracking number, the enterprise across channels, `case.registered`, the receipt."""

import asyncio
from collections.abc import Sequence
from typing import Any

from pymongo.errors import DuplicateKeyError

from services.intake import domain, enterprises
from services.intake.deps import NAME, Deps
from shared.contracts import topics
from shared.contracts.dead_letter import DeadLetter
from shared.contracts.submissions import Submission
from shared.refusal import Refusal
from shared.store import UnitOfWork, run_in_unit_of_work

TRACKING_NUMBER_ATTEMPTS = 5
ROWS_AT_ONCE = 64  # a batch file's rows registered concurrently: their reads and inserts go to the store together
REUSED_ID = "submission_id reused with different content: not a retry; the first case stands"


class SubmissionConflict(Exception):
    """A submission id sent again with different content: not a retry. The first case stands."""


async def enterprise_id_of(deps: Deps, submission: Submission) -> str:
    e = submission.enterprise
    key = enterprises.identity_key(e)
    return await deps.store.resolve_enterprise(
        key, enterprises.enterprise_id_for(key), enterprises.alias_key(e),
        {"name": e.name, "uscc": e.uscc, "contact_name": e.contact_name, "contact_phone": e.contact_phone})


async def register(deps: Deps, submission: Submission) -> tuple[dict[str, Any], bool]:
    """Register a submission once; a repeat returns the existing case (and republishes what never went out)."""
    ctx, store = deps.ctx, deps.store
    case_id = domain.case_id_for(submission.submission_id)
    cause = f"submission:{submission.submission_id}"
    for _ in range(TRACKING_NUMBER_ATTEMPTS):
        existing = await store.registrations.get(case_id)
        if existing and domain.registration_fingerprint(existing) != domain.submission_fingerprint(submission):
            ctx.log.warning("submission_id_reused", submission_id=submission.submission_id, case_id=case_id)
            raise SubmissionConflict(REUSED_ID)
        if existing:
            tracking, enterprise_id = existing["tracking_no"], existing.get("enterprise_id")
        else:
            now = ctx.clock()
            tracking = domain.tracking_no(now, await store.next_sequence(now), deps.tz)
            enterprise_id = await enterprise_id_of(deps, submission)
        try:
            applied = await store.registrations.apply(
                case_id, cause, lambda doc: domain.register(submission, tracking=tracking, now=ctx.clock(),
                                                            enterprise_id=enterprise_id))
            break
        except DuplicateKeyError:  # another instance drew the same number: draw again
            ctx.log.warning("tracking_number_collision", tracking_no=tracking)
    else:
        raise RuntimeError("could not allocate a unique tracking number")
    await ctx.emit(store.registrations, case_id, applied.events)
    if not applied.duplicate:
        ctx.metrics.cases_registered.labels(NAME, submission.channel).inc()
        ctx.log.info("case_registered", case_id=case_id, channel=submission.channel, tracking_no=tracking)
    return applied.doc, applied.duplicate


async def register_many(deps: Deps, submissions: Sequence[Submission]
                        ) -> list[tuple[dict[str, Any], bool] | SubmissionConflict]:
    """Register a batch file's submissions as one unit of work, as a consumer batch is (shared.store.UnitOfWork):
    the rows' records go to the store in one bulk write and their events out together, instead of several round
    trips per row one after another. Returns once everything is stored and published: (record, duplicate) per
    submission, or the conflict that refused it."""
    uow = UnitOfWork(deps.ctx.publish_pipelined) if deps.ctx.settings.consumer_unit_of_work else None
    gate = asyncio.Semaphore(ROWS_AT_ONCE)

    async def one(submission: Submission) -> tuple[dict[str, Any], bool] | SubmissionConflict:
        async with gate:
            try:
                return await register(deps, submission)
            except SubmissionConflict as exc:
                return exc

    # a failure stores nothing of the file: the person uploads it again
    return list(await run_in_unit_of_work(uow, asyncio.gather(*(one(s) for s in submissions))))


def receipt(deps: Deps, doc: dict[str, Any], submission: Submission, duplicate: bool) -> dict[str, Any]:
    """The submitter's answer, with the signed link that lets it follow the case without other proof."""
    token = deps.proofs.receipt_token(doc["_id"], doc["tracking_no"])
    return {"case_id": doc["_id"], "tracking_no": doc["tracking_no"], "status": doc["status"],
            "submission_id": submission.submission_id, "enterprise_id": doc.get("enterprise_id"),
            "duplicate": duplicate, "track_token": token, "track_url": f"/e/track?token={token}"}


async def register_or_refuse(deps: Deps, submission: Submission) -> tuple[dict[str, Any], bool]:
    """register() for HTTP callers: a reused submission id with other content is 409 (and dead-lettered,
    as on the topic, so the refused text is kept with the reason)."""
    try:
        return await register(deps, submission)
    except SubmissionConflict:
        await dead_letter_http(deps, submission)
        raise Refusal(409, "该提交编号已用于另一份内容不同的提交，本次提交未被受理（原问题件不受影响）",
                      reason="submission_id_reused")


async def dead_letter_http(deps: Deps, submission: Submission) -> None:
    ctx = deps.ctx
    letter = DeadLetter(service=NAME, topic="http:/api/v1/submissions", key=submission.submission_id,
                        reason=REUSED_ID, failed_at=ctx.clock(), payload=submission.model_dump_json())
    await ctx.broker.publish(letter.model_dump_json().encode(), topic=ctx.settings.topic(topics.SUBMISSIONS_DLQ),
                             key=submission.submission_id.encode())
