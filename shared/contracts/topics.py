"""Topic names, in one place. Public ones are fixed by CONTRACT.md; the rest are the platform's own."""

SUBMISSIONS = "qhwy.submissions.v1"  # public ingress
CASE_EVENTS = "qhwy.case-events.v1"  # public case events
SUBMISSIONS_DLQ = "qhwy.submissions.dlq.v1"  # ingress messages that could not be accepted, with the reason
CASE_EVENTS_DLQ = "qhwy.case-events.dlq.v1"  # case events a service could not apply, with the reason
INSIGHT_EVENTS = "qhwy.insight-events.v1"  # what insight finds in the case stream (early warnings), key = theme

ALL = (SUBMISSIONS, CASE_EVENTS, SUBMISSIONS_DLQ, CASE_EVENTS_DLQ, INSIGHT_EVENTS)
