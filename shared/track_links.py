"""The enterprise's own link to one case: signed, with its own issuer and audience, so it is never a staff token
(shared.auth requires issuer "qhwy") nor a rating link. intake gives one on the receipt and after every proof;
rating accepts it for the tracking page's rating calls."""

from dataclasses import dataclass
from datetime import datetime

import jwt

TRACK_ISSUER = "qhwy-track"
TRACK_AUDIENCE = "qhwy-enterprise"


@dataclass(frozen=True)
class TrackClaim:
    case_id: str
    tracking_no: str


def issue_track_token(secret: str, *, case_id: str, tracking_no: str, now: datetime, ttl_seconds: int) -> str:
    """The signed link on the receipt (and after any proof): reads this one case, nothing else."""
    issued = int(now.timestamp())
    claims = {"iss": TRACK_ISSUER, "aud": TRACK_AUDIENCE, "sub": case_id, "tn": tracking_no, "iat": issued,
              "exp": issued + ttl_seconds}
    return jwt.encode(claims, secret, algorithm="HS256")


def verify_track_token(secret: str, token: str, now: datetime) -> TrackClaim | None:
    try:
        claims = jwt.decode(token, secret, algorithms=["HS256"], issuer=TRACK_ISSUER, audience=TRACK_AUDIENCE,
                            options={"require": ["exp", "sub", "tn"], "verify_iat": False, "verify_exp": False},
                            leeway=0)
    except jwt.PyJWTError:
        return None
    if claims["exp"] < now.timestamp():  # the platform's clock (it may be accelerated in demonstrations)
        return None
    return TrackClaim(case_id=str(claims["sub"]), tracking_no=str(claims["tn"]))
