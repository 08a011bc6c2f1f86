"""One decision with its link to earlier cases, pure (the in-memory duplicate index is a parameter): what the
service's handler and the benchmark both run, so the benchmark measures the service's own logic."""

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from services.triage import duplicates, followups
from services.triage.domain import Case, DuplicateMatch, Proposal, Triage
from services.triage.dup_index import DuplicateIndex


@dataclass(frozen=True)
class Who:
    """The enterprise as the registered case names it (the phone masked, as public events carry it)."""

    name: str
    uscc: str | None = None
    phone: str | None = None
    enterprise_id: str | None = None


@dataclass(frozen=True)
class Assessment:
    proposal: Proposal
    keys: list[str]  # what the case is indexed under
    enterprise: str  # the enterprise key (keys[0])
    identity: tuple[str, ...]
    follow_up_of: str | None  # the same enterprise's open case this one follows up (催办), if any


def _days(now: datetime, then: datetime | None) -> float | None:
    if then is None:
        return None
    try:
        return (now - then).total_seconds() / 86400
    except TypeError:  # one naive, one aware (a stored datetime read back without its zone): count it as UTC
        return (now.replace(tzinfo=None) - then.replace(tzinfo=None)).total_seconds() / 86400


def probe_of(triage: Triage, content: str, proposal: Proposal, who: Who) -> followups.Probe:
    """The new case as the linking sees it: who reports it (relayed enterprises included), its matters, units,
    region, places, shared things and words of a follow-up (also bench/fit_links.py's pairs)."""
    identity = followups.identity_keys(who.name, who.uscc, who.phone, who.enterprise_id)
    identity += tuple(k for k in followups.relayed_identity(who.name, content) if k not in identity)
    matters = tuple(m for m, _ in proposal.matters)
    shared = triage.catalogue.shared_names if triage.catalogue is not None else frozenset()
    return followups.Probe(identity, proposal.department, proposal.region, matters, followups.is_follow_up(content),
                           tuple(m for m in matters if m in shared), followups.shared_things(content),
                           followups.says_reported_before(content), followups.localities(content),
                           followups.says_also(content), tuple(proposal.co_departments),
                           followups.COLLECTIVE.search(who.name or "") is not None)


def assess(triage: Triage, vocabulary: duplicates.Vocabulary, index: DuplicateIndex, case_id: str, case: Case,
           who: Who, now: datetime, window_days: int, limit: int, cross_enterprise: bool = True) -> Assessment:
    """The automatic proposal, linked to an earlier case of the same problem if there is one: that case open,
    a duplicate of it; closed (销号), a new case with recurrence_of."""
    proposal = triage.propose(case)
    probe = probe_of(triage, case.content, proposal, who)
    identity = probe.identity
    keys = duplicates.link_keys(vocabulary, case.content, who.name, who.uscc, identity, probe.matters,
                                proposal.region, probe.things)
    since = now - timedelta(days=window_days)
    candidates = [c for c in index.candidates(keys, case_id, since, limit)
                  if cross_enterprise or followups.same_enterprise(c.identity, identity)]
    unread = (followups.Earlier(c.case_id, c.identity, c.department, c.region, c.matters, c.closed, 0.0,
                                c.co_departments, _days(now, c.registered_at), c.things, c.places)
              for c in candidates)
    # the wording is compared only with the cases that may be the same problem (most of the time per case)
    earlier = [replace(old, similarity=vocabulary.similarity(case.content, text))
               for old, text in zip(unread, (c.content for c in candidates), strict=True)
               if not followups.ruled_out(probe, old)]
    found = followups.link(probe, earlier)
    proposal, follow_up_of = _linked(triage, case, proposal, found)
    if found is not None:  # the officer reads the tracking number, not the id
        tracking = next((c.tracking_no for c in candidates if c.case_id == found.case_id and c.tracking_no), None)
        if tracking:
            proposal = replace(proposal, reason=proposal.reason.replace(found.case_id, tracking))
    return Assessment(proposal, keys, keys[0], identity, follow_up_of)


def _linked(triage: Triage, case: Case, proposal: Proposal,
            found: followups.Link | None) -> tuple[Proposal, str | None]:
    """The proposal once linked: doubtful (an officer confirms), a duplicate of an open case (and the follow-up it
    is, when the same enterprise's), or a recurrence of a closed one."""
    follow_up_of = None
    if found is not None and found.confidence < triage.review_threshold:
        # a doubtful link: not linked; the case waits for an officer, who sees the case it may repeat
        kind = "重复" if found.kind == "duplicate" else "复发"
        proposal = replace(proposal, needs_review=True,
                           confidence={**proposal.confidence, "link": found.confidence},
                           reason=f"{proposal.reason}；疑似与案件 {found.case_id} {kind}（{found.why}），待人工确认")
    elif found is not None and found.kind == "duplicate":
        follow_up_of = found.case_id if found.same_enterprise else None
        proposal = triage.propose(case, DuplicateMatch(found.case_id, found.confidence, found.same_enterprise,
                                                       found.why), found.confidence)
    elif found is not None:
        proposal = triage.propose(case, recurrence_of=found.case_id)
    return proposal, follow_up_of


def assess_supplemented(triage: Triage, vocabulary: duplicates.Vocabulary, index: DuplicateIndex, case_id: str,
                        original: Case, detail: str, who: Who, now: datetime, window_days: int, limit: int,
                        cross_enterprise: bool = True) -> tuple[Case, Assessment]:
    """An unclear case decided again once the enterprise added detail (补充说明): on the original text plus the
    detail; when the vague original still outweighs it, on the detail alone (it answers "what exactly?"), the
    original's place hint kept. Returns the case as it now reads and the assessment."""
    from services.triage.review import supplemented_content

    combined = replace(original, content=supplemented_content(original.content, detail))
    found = assess(triage, vocabulary, index, case_id, combined, who, now, window_days, limit, cross_enterprise)
    if found.proposal.screening in ("accepted", "duplicate") or not detail.strip():
        return combined, found
    alone = replace(original, content=detail.strip(), title=None)
    retry = assess(triage, vocabulary, index, case_id, alone, who, now, window_days, limit, cross_enterprise)
    if retry.proposal.screening in ("accepted", "duplicate"):
        return combined, Assessment(retry.proposal, found.keys, found.enterprise, found.identity, retry.follow_up_of)
    return combined, found
