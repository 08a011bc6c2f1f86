"""services.rating.links: signed one-time rating links (their purpose, audience, signature and expiry)."""

from datetime import UTC, datetime, timedelta

import jwt
import pytest

from services.rating import links
from shared.auth import issue_token

SECRET = "rating-link-secret-of-enough-length!!"
NOW = datetime(2026, 3, 3, 8, 0, tzinfo=UTC)
WEEK = timedelta(days=7)


def test_a_link_round_trips():
    token, claim = links.issue(SECRET, case_id="case-1", round=2, now=NOW, valid=WEEK)
    assert claim.case_id == "case-1" and claim.round == 2 and claim.expires_at == NOW + WEEK
    assert links.verify(SECRET, token, NOW + WEEK - timedelta(seconds=1)) == claim


def test_every_link_has_its_own_id():
    first = links.issue(SECRET, case_id="c", round=1, now=NOW, valid=WEEK)[1]
    second = links.issue(SECRET, case_id="c", round=1, now=NOW, valid=WEEK)[1]
    assert first.link_id != second.link_id


def test_an_expired_link_is_refused():
    token, _ = links.issue(SECRET, case_id="c", round=1, now=NOW, valid=WEEK)
    with pytest.raises(links.LinkRefused) as refused:
        links.verify(SECRET, token, NOW + WEEK)
    assert refused.value.reason == "expired" and refused.value.status == 410 and "过期" in refused.value.message


def forged_tokens():
    good, _ = links.issue(SECRET, case_id="c", round=1, now=NOW, valid=WEEK)
    base = {"iss": "qhwy", "aud": links.AUDIENCE, "purpose": links.PURPOSE, "sub": "c", "round": 1, "jti": "x",
            "iat": int(NOW.timestamp()), "exp": int((NOW + WEEK).timestamp())}
    head, payload, signature = good.split(".")
    return {
        "other secret": links.issue("another-secret-of-enough-length!!!!", case_id="c", round=1, now=NOW,
                                    valid=WEEK)[0],
        "tampered signature": f"{head}.{payload}.{signature[:-2]}AA",
        "not a token": "abc",
        "staff token": issue_token(SECRET, sub="x", role="admin", now=NOW.timestamp()),
        "no purpose": jwt.encode({k: v for k, v in base.items() if k != "purpose"}, SECRET, algorithm="HS256"),
        "wrong audience": jwt.encode({**base, "aud": "qhwy"}, SECRET, algorithm="HS256"),
        "round zero": jwt.encode({**base, "round": 0}, SECRET, algorithm="HS256"),
        "round as text": jwt.encode({**base, "round": "1"}, SECRET, algorithm="HS256"),
        "alg none": jwt.encode(base, None, algorithm="none"),
    }


@pytest.mark.parametrize("name", list(forged_tokens()))
def test_forged_links_are_refused(name):
    with pytest.raises(links.LinkRefused) as refused:
        links.verify(SECRET, forged_tokens()[name], NOW)
    assert refused.value.reason == "forged" and refused.value.status == 403


@pytest.mark.parametrize("reason", list(links.LinkRefused.MESSAGES))
def test_every_refusal_has_a_chinese_message(reason):
    refused = links.LinkRefused(reason)
    assert refused.status >= 400 and any("\u4e00" <= ch <= "\u9fff" for ch in refused.message)
