"""Staff identity: signed JWT bearer tokens carrying a role and, for unit handlers, a unit.

Issue one with:  qhwy-token --role unit_handler --unit fagai --sub wang.wu
(a service-to-service token: qhwy-token --role service --sub rating)
"""

import argparse
import sys
import time
from dataclasses import dataclass
from typing import Literal

import jwt

from shared.refusal import Refusal

# "service": one platform service calling another (e.g. rating asking intake for a contact); never a person.
ROLES = ("triage_officer", "unit_handler", "leader", "supervisor", "admin", "service")
Role = Literal["triage_officer", "unit_handler", "leader", "supervisor", "admin", "service"]
ALGORITHM = "HS256"
ISSUER = "qhwy"


class AuthError(Refusal):
    """Who the caller is, or may do, refused (401/403)."""


@dataclass(frozen=True)
class Staff:
    sub: str
    role: str
    unit: str | None
    name: str | None = None

    def can_see_unit(self, unit: str | None) -> bool:
        """Unit handlers see only their unit's cases; the county-wide roles see all."""
        return self.role != "unit_handler" or (unit is not None and unit == self.unit)


def issue_token(secret: str, *, sub: str, role: str, unit: str | None = None, name: str | None = None,
                ttl_seconds: int = 8 * 3600, now: float | None = None, jti: str | None = None) -> str:
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; one of {', '.join(ROLES)}")
    if role == "unit_handler" and not unit:
        raise ValueError("a unit_handler token needs a unit")
    issued = int(now if now is not None else time.time())
    claims = {"iss": ISSUER, "sub": sub, "role": role, "iat": issued, "exp": issued + ttl_seconds}
    if unit:
        claims["unit"] = unit
    if name:
        claims["name"] = name
    if jti:  # the console's sign-in names each token, so one can be traced in the logs
        claims["jti"] = jti
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def verify_token(secret: str, authorization: str | None) -> Staff:
    """Check an Authorization header. 401 for a missing, malformed, forged or expired token."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():  # the scheme is case-insensitive (RFC 7235)
        raise AuthError(401, "需要工作人员登录凭证")
    token = token.strip()
    try:
        claims = jwt.decode(token, secret, algorithms=[ALGORITHM], issuer=ISSUER,
                            options={"require": ["exp", "iat", "sub", "iss"]})
    except jwt.ExpiredSignatureError:
        raise AuthError(401, "登录凭证已过期")
    except jwt.PyJWTError:
        raise AuthError(401, "登录凭证无效")
    role = claims.get("role")
    if role not in ROLES:
        raise AuthError(403, "登录凭证的角色无效")
    if role == "unit_handler" and not claims.get("unit"):  # without a unit it would see the whole county
        raise AuthError(403, "承办单位账号的登录凭证未指定单位")
    return Staff(sub=claims["sub"], role=role, unit=claims.get("unit"), name=claims.get("name"))


def require_role(staff: Staff, *roles: str) -> None:
    if staff.role not in roles:
        raise AuthError(403, "当前角色无权执行此操作")


def main(argv: list[str] | None = None) -> int:
    from shared.settings import Settings

    parser = argparse.ArgumentParser(description="Issue a staff token for the qhwy APIs (uses QHWY_JWT_SECRET).")
    parser.add_argument("--sub", required=True, help="staff user id")
    parser.add_argument("--role", required=True, choices=ROLES)
    parser.add_argument("--unit", help="unit (department or region) code; required for unit_handler")
    parser.add_argument("--name", help="display name")
    parser.add_argument("--ttl", type=int, default=8 * 3600, help="lifetime in seconds")
    args = parser.parse_args(argv)
    secret = Settings().jwt_secret.get_secret_value()
    try:
        print(issue_token(secret, sub=args.sub, role=args.role, unit=args.unit, name=args.name, ttl_seconds=args.ttl))
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
