"""Signed one-time rating links: a JWT whose purpose and audience make it good for rating one resolution only.

"One-time" is enforced by the case's record (one rating per round), not by the token: a link for a round that
was rated, reopened or superseded is refused however valid its signature.
"""

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import jwt

from shared.refusal import Refusal

ALGORITHM = "HS256"
ISSUER = "qhwy"
AUDIENCE = "qhwy-rating"
PURPOSE = "rate_case"


@dataclass(frozen=True)
class RatingClaim:
    case_id: str
    round: int
    link_id: str
    expires_at: datetime


class LinkRefused(Refusal):
    """A link that cannot be used; `reason` is logged and counted (and in the answer), `message` is shown to the
    enterprise with the reason's status."""

    MESSAGES = {
        "forged": (403, "评价链接无效，请使用短信中的完整链接或在查询页面重新获取"),
        "expired": (410, "评价链接已过期，请在查询页面重新获取评价链接"),
        "replayed": (409, "该次办理已评价，评价链接已失效"),
        "superseded": (410, "问题已重新办理，此评价链接已失效，请使用最新链接"),
        "not_awaiting": (409, "该问题目前不在待评价状态"),
        "unknown_case": (404, "未找到该评价链接对应的问题件"),
    }

    def __init__(self, reason: str):
        status, message = self.MESSAGES[reason]
        super().__init__(status, message, reason=reason)
        self.reason = reason


def issue(secret: str, *, case_id: str, round: int, now: datetime, valid: timedelta) -> tuple[str, RatingClaim]:
    link_id = str(uuid.uuid4())
    expires = now + valid
    claims = {"iss": ISSUER, "aud": AUDIENCE, "purpose": PURPOSE, "sub": case_id, "round": round, "jti": link_id,
              "iat": int(now.timestamp()), "exp": int(expires.timestamp())}
    return jwt.encode(claims, secret, algorithm=ALGORITHM), RatingClaim(case_id, round, link_id, expires)


def verify(secret: str, token: str, now: datetime) -> RatingClaim:
    """The claim of a genuine, unexpired rating link; LinkRefused('forged' or 'expired') otherwise."""
    try:
        claims = jwt.decode(token, secret, algorithms=[ALGORITHM], issuer=ISSUER, audience=AUDIENCE,
                            options={"require": ["exp", "iat", "sub", "jti", "aud", "iss"], "verify_exp": False})
    except jwt.PyJWTError:
        raise LinkRefused("forged")
    if claims.get("purpose") != PURPOSE or not isinstance(claims.get("round"), int) or claims["round"] < 1:
        raise LinkRefused("forged")
    if now.timestamp() >= claims["exp"]:  # checked against the given clock, not the wall clock
        raise LinkRefused("expired")
    return RatingClaim(claims["sub"], claims["round"], claims["jti"], datetime.fromtimestamp(claims["exp"], now.tzinfo))
