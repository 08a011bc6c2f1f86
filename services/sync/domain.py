"""Sync rules, pure (no I/O; the clock and the randomness are parameters).

One `links` document per case that a remote side must hear about. It keeps what the remote side needs (the case
file), and its outbound deliveries: each is recorded in the same document write as the case event that caused
it (the transactional-outbox equivalent on a store without transactions), carries an idempotency key (its id,
derived from the event id, so a redelivered event makes the same delivery) and moves
pending -> delivered | parked. A confirmed delivery produces a `case.synced` event.

What goes out:
- to the city: the case file when a case is escalated to the top level of the ladder (the city), then every
  status update of a case the city knows about (escalated, or assigned by the city), except what the city itself
  said (events sync derived from the city's messages);
- to the 12345 hotline: the result of a hotline case when resolved, and its rating when collected.

What comes in: the city's replies and decisions become `case.progressed` / `case.resolved` events (plus
`case.synced` inbound); cases the city assigns become submissions on the ingress topic.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from services.sync.city_api import Assignment, CityMessage
from shared.contracts import case_events as ce
from shared.contracts.envelope import CaseEvent, derived_id
from shared.store import Change

CITY, HOTLINE = "city", "hotline"
PENDING, DELIVERED, PARKED = "pending", "delivered", "parked"

# Status updates the city hears about a case it knows (CONTRACT.md types, without the `case.` prefix on the wire).
CITY_UPDATE_TYPES = frozenset({
    "case.accepted", "case.progressed", "case.returned", "case.escalated", "case.overdue", "case.resolved",
    "case.rated", "case.revisited", "case.referred", "case.reopened", "case.closed",
})
# Fields of an event kept in the case file's timeline (never enterprise contact data).
TIMELINE_FIELDS = ("department", "co_departments", "region", "complexity", "screening", "due_at", "from_level",
                   "to_level", "reason", "resolution", "resolved_at", "on_time", "level", "satisfied", "method",
                   "outcome", "note", "closed_at", "escalation_level")


@dataclass(frozen=True)
class SyncRules:
    city_level: int  # the top level of the organisation's escalation ladder
    city_department: str  # the code of that level, used as `department` in events derived from the city
    hotline_channel: str
    city_channel: str
    ticket_field: str  # the field of case.registered carrying the hotline's ticket number
    city_actor_prefix: str = "city:"
    city_submission_prefix: str = "city-"


# ---------------------------------------------------------------- folding case events into a link document

def fold(doc: dict[str, Any] | None, event: CaseEvent, rules: SyncRules, now: datetime) -> Change | None:
    """The effect of one case event on the case's link document: what to remember and what to deliver."""
    if event.type == "case.synced":
        return None
    base = doc or {}
    sets, targets = _remembered(base, event, rules)
    new = [d for d in (_city_delivery(base, event, rules, sets, targets), _hotline_delivery(base, event)) if d]
    if not sets and not new and doc is None:
        return None  # a case no remote side knows about: nothing to keep
    if targets != set(base.get("targets", [])):
        sets["targets"] = sorted(targets)
    push = {"timeline": _timeline_entry(event)} if event.type != "case.registered" else {}
    if new:
        deliveries = dict(base.get("deliveries", {}))
        seq = int(base.get("delivery_seq", 0))
        for delivery in new:
            seq += 1
            delivery.update(seq=seq, state=PENDING, attempts=0, created_at=now, next_at=now)
            deliveries[delivery["id"]] = delivery
        sets.update(_deliveries_set(doc, {d["id"]: d for d in new}))
        sets["delivery_seq"] = seq
        sets["next_delivery_at"] = next_due(deliveries)
    return Change(set=sets, push=push)


def _remembered(base: dict[str, Any], event: CaseEvent, rules: SyncRules) -> tuple[dict[str, Any], set[str]]:
    """What the link document keeps of a registration (tracking number, the remote side it came from) or an
    assignment (the deadline), and the remote sides that know the case."""
    data = event.data
    sets: dict[str, Any] = {}
    targets = set(base.get("targets", []))
    if event.type == "case.registered":
        sets.update(tracking_no=data["tracking_no"], channel=data["channel"], submission_id=data["submission_id"],
                    registered=_case_file_head(data))
        if data["channel"] == rules.hotline_channel:
            ticket = data.get(rules.ticket_field) or data["submission_id"]
            sets["hotline_ticket"] = ticket
            targets.add(HOTLINE)
        if data["channel"] == rules.city_channel and data["submission_id"].startswith(rules.city_submission_prefix):
            sets["city_case_id"] = data["submission_id"].removeprefix(rules.city_submission_prefix)
            sets["city_linked"] = True
            targets.add(CITY)
    elif event.type in ("case.assigned", "case.reopened"):
        sets["due_at"] = data["due_at"]
    return sets, targets


def _city_delivery(base: dict[str, Any], event: CaseEvent, rules: SyncRules, sets: dict[str, Any],
                   targets: set[str]) -> dict[str, Any] | None:
    """What the city hears: an escalation to its level (the case file; the case becomes linked, noted in `sets`
    and `targets`), or an update of a case it knows that did not come from the city itself."""
    data = event.data
    city_linked = bool(base.get("city_linked"))
    from_city = str(data.get("by") or "").startswith(rules.city_actor_prefix)
    if event.type == "case.escalated" and data["to_level"] >= rules.city_level and not city_linked:
        sets["city_linked"] = True
        sets["escalated_to_city_at"] = event.occurred_at.isoformat()
        targets.add(CITY)
        return _delivery(event, CITY, "escalation", "/v1/escalations", {
            "county_case_id": event.case_id,
            "tracking_no": base.get("tracking_no"),
            "escalated_at": event.occurred_at.isoformat(),
            "from_level": data["from_level"], "to_level": data["to_level"], "reason": data["reason"],
            "case_file": {**base.get("registered", {}), "due_at": base.get("due_at"),
                          "timeline": base.get("timeline", [])},
        })
    if city_linked and event.type in CITY_UPDATE_TYPES and not from_city:
        return _delivery(event, CITY, "update", "/v1/case-updates", {
            "county_case_id": event.case_id, "city_case_id": base.get("city_case_id"),
            "type": event.type.removeprefix("case."), "occurred_at": event.occurred_at.isoformat(),
            "data": _summary(data),
        })
    return None


def _hotline_delivery(base: dict[str, Any], event: CaseEvent) -> dict[str, Any] | None:
    """What the hotline hears of a case it passed on: the result, and the enterprise's rating."""
    ticket = base.get("hotline_ticket")
    if not (ticket and event.type in ("case.resolved", "case.rated")):
        return None
    data = event.data
    kind = "result" if event.type == "case.resolved" else "rating"
    body: dict[str, Any] = {"county_case_id": event.case_id, "tracking_no": base.get("tracking_no"),
                            "kind": kind, "occurred_at": event.occurred_at.isoformat()}
    if kind == "result":
        body.update(resolution=data["resolution"], resolved_at=data["resolved_at"], on_time=data["on_time"])
    else:
        body.update(level=data["level"], satisfied=data["satisfied"], comment=data.get("comment"))
    return _delivery(event, HOTLINE, kind, f"/v1/tickets/{ticket}/results", body)


def _delivery(event: CaseEvent, target: str, kind: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    delivery_id = derived_id(event.event_id, "delivery", target)
    return {"id": delivery_id, "target": target, "kind": kind, "event_id": event.event_id,
            "event_type": event.type, "method": "POST", "path": path, "body": {"idempotency_key": delivery_id, **body}}


def _case_file_head(data: dict[str, Any]) -> dict[str, Any]:
    keep = ("submission_id", "channel", "tracking_no", "received_at", "submitted_at", "enterprise", "content",
            "title", "region_hint")
    return {k: data.get(k) for k in keep if data.get(k) is not None}


def _summary(data: dict[str, Any]) -> dict[str, Any]:
    out = {k: data[k] for k in TIMELINE_FIELDS if k in data}
    if "by" in data:
        out["by"] = data["by"]
    return out


def _timeline_entry(event: CaseEvent) -> dict[str, Any]:
    return {"type": event.type, "occurred_at": event.occurred_at.isoformat(), **_summary(event.data)}


def _deliveries_set(doc: dict[str, Any] | None, changed: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """A whole map for a new document (keys with dots cannot be inserted), dotted paths for an existing one."""
    if doc is None:
        return {"deliveries": changed}
    return {f"deliveries.{did}": value for did, value in changed.items()}


def _heads(deliveries: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """The first delivery of each target not yet delivered, in recorded order. Only a pending head can go: the
    later ones of its target wait behind it, and behind a parked one too (an update about an escalation the city
    refused would be refused in turn; it goes once an operator has replayed the escalation)."""
    heads: dict[str, dict[str, Any]] = {}
    for delivery in sorted(deliveries.values(), key=lambda d: d["seq"]):
        if delivery["state"] != DELIVERED:
            heads.setdefault(delivery["target"], delivery)
    return list(heads.values())


def next_due(deliveries: dict[str, dict[str, Any]]) -> datetime | None:
    """When the dispatcher must look at this document next (None: nothing can go until an operator acts)."""
    times = [d["next_at"] for d in _heads(deliveries) if d["state"] == PENDING]
    return min(times) if times else None


# ---------------------------------------------------------------- delivery outcomes

def due_deliveries(doc: dict[str, Any], now: datetime, targets: set[str] | None = None,
                   back_since: dict[str, datetime] | None = None) -> list[dict[str, Any]]:
    """Deliveries to attempt now, in the order they were recorded: at most one per target, its first one not yet
    delivered (`_heads`). `back_since`: remote sides back up since then (their breaker closed again); a delivery
    last tried before that goes now rather than at its backoff time."""
    out: list[dict[str, Any]] = []
    for delivery in _heads(doc.get("deliveries", {})):
        target = delivery["target"]
        if delivery["state"] != PENDING or (targets is not None and target not in targets):
            continue
        back = (back_since or {}).get(target)
        tried = delivery.get("tried_at")
        if delivery["next_at"] <= now or (back is not None and tried is not None and tried < back):
            out.append(delivery)
    return out


def _with(doc: dict[str, Any], delivery_id: str, **fields: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    deliveries = {k: dict(v) for k, v in doc.get("deliveries", {}).items()}
    deliveries[delivery_id].update(fields)
    return deliveries, {f"deliveries.{delivery_id}.{k}": v for k, v in fields.items()}


def delivered_cause(delivery: dict[str, Any]) -> str:
    """The cause under which a confirmation is applied: once per sending (a resend is confirmed again)."""
    resent = delivery.get("resent", 0)
    return f"delivered:{delivery['id']}" + (f":{resent}" if resent else "")


def delivered(doc: dict[str, Any], delivery_id: str, remote_id: str, now: datetime) -> Change | None:
    """The remote side confirmed: remember it and tell the county (`case.synced`, outbound)."""
    delivery = doc.get("deliveries", {}).get(delivery_id)
    if delivery is None or delivery["state"] == DELIVERED:
        return None
    deliveries, sets = _with(doc, delivery_id, state=DELIVERED, delivered_at=now, remote_id=remote_id)
    sets.update(next_delivery_at=next_due(deliveries), last_delivered_at=now)
    if delivery["target"] == CITY and delivery["kind"] == "escalation":
        sets["city_escalation_id"] = remote_id
    if delivery["kind"] == FIGURES:  # a report, not a case: no case event
        return Change(set=sets)
    event = CaseEvent.new(cause=delivered_cause(delivery), type="case.synced", case_id=doc["_id"], occurred_at=now,
                          data=ce.Synced(target=delivery["target"], direction="outbound", remote_id=remote_id))
    return Change(set=sets, events=[event])


def backoff_seconds(attempts: int, base: float, cap: float, jitter: float) -> float:
    """Exponential backoff with equal jitter: half of the step is fixed, half random (jitter in [0, 1))."""
    step: float = min(cap, base * 2 ** max(0, attempts - 1))  # int ** int is typed Any (it may be a fraction)
    return step / 2 + step / 2 * jitter


def failed(doc: dict[str, Any], delivery_id: str, error: str, now: datetime, *, base: float, cap: float,
           jitter: float) -> dict[str, Any] | None:
    """A transient failure: try again later (fields to set)."""
    delivery = doc.get("deliveries", {}).get(delivery_id)
    if delivery is None or delivery["state"] != PENDING:
        return None
    attempts = delivery["attempts"] + 1
    next_at = now + timedelta(seconds=backoff_seconds(attempts, base, cap, jitter))
    deliveries, sets = _with(doc, delivery_id, attempts=attempts, next_at=next_at, last_error=error[:500], tried_at=now)
    sets["next_delivery_at"] = next_due(deliveries)
    return sets


def deferred(doc: dict[str, Any], delivery_id: str, until: datetime,
             tried_at: datetime | None = None) -> dict[str, Any] | None:
    """Not attempted (the remote side's breaker is open): look again at `until`, without counting an attempt.
    Also used to bring a delivery forward (`until` = now) when reconciliation finds the remote side has it."""
    delivery = doc.get("deliveries", {}).get(delivery_id)
    if delivery is None or delivery["state"] != PENDING:
        return None
    deliveries, sets = _with(doc, delivery_id, next_at=until, **({"tried_at": tried_at} if tried_at else {}))
    sets["next_delivery_at"] = next_due(deliveries)
    return sets


def parked(doc: dict[str, Any], delivery_id: str, reason: str, now: datetime) -> dict[str, Any] | None:
    """The remote side refused it for good: stop trying; an operator inspects and replays it."""
    delivery = doc.get("deliveries", {}).get(delivery_id)
    if delivery is None or delivery["state"] != PENDING:
        return None
    deliveries, sets = _with(doc, delivery_id, state=PARKED, parked_at=now, last_error=reason[:500],
                             attempts=delivery["attempts"] + 1)
    sets["next_delivery_at"] = next_due(deliveries)
    return sets


def resend(doc: dict[str, Any], delivery_id: str, now: datetime, why: str,
           body: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """Send again from now on: a replay of a parked delivery (optionally corrected), or a delivery the remote side
    turned out not to have (reconciliation). The idempotency key stays: the remote side keeps one copy."""
    delivery = doc.get("deliveries", {}).get(delivery_id)
    if delivery is None or delivery["state"] == PENDING:
        return None
    fields: dict[str, Any] = {"state": PENDING, "attempts": 0, "next_at": now, "resent": delivery.get("resent", 0) + 1,
                              "last_error": why}
    if body is not None:
        fields["body"] = {**body, "idempotency_key": delivery_id}
    deliveries, sets = _with(doc, delivery_id, **fields)
    sets["next_delivery_at"] = next_due(deliveries)
    return sets


# ---------------------------------------------------------------- inbound from the city

def city_message_cause(message: CityMessage) -> str:
    return f"city-message:{message.message_id}"


def city_message(doc: dict[str, Any] | None, message: CityMessage, rules: SyncRules, now: datetime) -> Change:
    """The city's reply or decision on a case, as case events. Each message is applied once (its cause); a
    message that arrives after a later one of the same case is still published, but the case's city status only
    moves forward (out-of-order replies never undo a later decision)."""
    cause = city_message_cause(message)
    by = f"{rules.city_actor_prefix}{message.author}"
    reply: ce.Resolved | ce.Progressed
    if message.kind == "decision" and message.decision == "resolve":
        due_at = (doc or {}).get("due_at")
        on_time = due_at is None or message.occurred_at <= datetime.fromisoformat(due_at)
        reply_type, reply = "case.resolved", ce.Resolved(
            resolution=message.text, resolved_at=message.occurred_at, on_time=on_time, by=by)
    else:
        reply_type, reply = "case.progressed", ce.Progressed(
            department=rules.city_department, by=by, note=message.text)
    events = [CaseEvent.new(cause=cause, type=reply_type, case_id=message.county_case_id,
                            occurred_at=message.occurred_at, data=reply)]
    events.append(CaseEvent.new(type="case.synced", cause=cause, case_id=message.county_case_id, occurred_at=now,
                                data=ce.Synced(target=CITY, direction="inbound", remote_id=message.message_id)))
    sets: dict[str, Any] = {}
    if message.case_seq > int((doc or {}).get("city_case_seq", 0)):
        sets["city_case_seq"] = message.case_seq
        sets["city_status"] = message.decision or message.kind
    return Change(set=sets, events=events)


def submission_for(assignment: Assignment, rules: SyncRules) -> dict[str, Any]:
    """A case the city assigns, as an ingress submission (intake makes one case of one city case id)."""
    return {
        "submission_id": f"{rules.city_submission_prefix}{assignment.city_case_id}",
        "channel": rules.city_channel,
        "submitted_at": assignment.assigned_at.isoformat(),
        "enterprise": assignment.enterprise.model_dump(exclude_none=True),
        "content": assignment.content,
        "title": assignment.title,
        "region_hint": assignment.region_hint,
        "reporter": {"kind": rules.city_channel},
    }


def advance_cursor(cursor: int, seen: set[int], new: list[int]) -> tuple[int, set[int]]:
    """The feed position up to which every item has been seen. Items that arrive out of order (a gap) are kept
    aside, so a late one below the gap is still fetched; the cursor never jumps over it."""
    pending = {s for s in seen | set(new) if s > cursor}
    while cursor + 1 in pending:
        cursor += 1
        pending.discard(cursor)
    return cursor, pending


# ---------------------------------------------------------------- reconciliation

@dataclass(frozen=True)
class Comparison:
    missing_remotely: list[str]  # we think delivered, the remote side has no record: resend
    confirmed_remotely: list[str]  # still pending here, the remote side has it (the answer was lost): confirm


def compare(local: dict[str, str], remote_keys: set[str]) -> Comparison:
    """local: delivery id -> state; remote_keys: the idempotency keys the remote side holds."""
    missing = sorted(k for k, state in local.items() if state == DELIVERED and k not in remote_keys)
    confirmed = sorted(k for k, state in local.items() if state == PENDING and k in remote_keys)
    return Comparison(missing, confirmed)


# ---------------------------------------------------------------- periodic figures for the city

FIGURES = "figures"
FIGURE_NAMES = ("received", "resolved", "resolved_on_time", "rated", "satisfied")
FIGURES_KEY_PREFIX = "figures:"


def period_of(moment: datetime, tz: Any) -> str:
    """The county's reporting period (a local calendar day, ISO date) of a moment."""
    return moment.astimezone(tz).date().isoformat()


def figure_marks(event: CaseEvent, tz: Any) -> dict[str, Any] | None:
    """What one case event contributes to the figures, as fields of the case's figures record. Setting them is
    idempotent (a redelivered event sets the same values); a reopened and re-resolved case counts once, in the
    period of its last resolution."""
    data = event.data
    if event.type == "case.registered":
        return {"received_on": period_of(event.occurred_at, tz)}
    if event.type == "case.resolved":
        return {"resolved_on": period_of(event.occurred_at, tz), "on_time": bool(data["on_time"])}
    if event.type == "case.rated":
        return {"rated_on": period_of(event.occurred_at, tz), "satisfied": bool(data["satisfied"])}
    return None


def last_complete_period(now: datetime, tz: Any) -> str:
    """The latest local day that is over."""
    return (now.astimezone(tz).date() - timedelta(days=1)).isoformat()


def figures_report(period: str, counts: dict[str, int], now: datetime) -> Change:
    """The county's figures of one period as a delivery to the city (its own document `figures:<period>`, so
    it has the same guarantees as every delivery: recorded once, sent at least once, idempotency key, retries,
    parking, reconciliation)."""
    key = FIGURES_KEY_PREFIX + period
    delivery_id = derived_id(key, "delivery", CITY)
    body = {"idempotency_key": delivery_id, "period": period, "period_kind": "day", **counts,
            "reported_at": now.isoformat()}
    delivery = {"id": delivery_id, "target": CITY, "kind": FIGURES, "event_id": key, "event_type": FIGURES,
                "method": "POST", "path": "/v1/county-figures", "body": body, "seq": 1, "state": PENDING,
                "attempts": 0, "created_at": now, "next_at": now}
    return Change(set={"figures_period": period, "targets": [CITY], "deliveries": {delivery_id: delivery},
                       "delivery_seq": 1, "next_delivery_at": now})
