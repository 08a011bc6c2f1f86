"""shared.auth: staff bearer tokens, roles and unit visibility."""

import time

import jwt
import pytest

from shared.auth import ALGORITHM, ISSUER, ROLES, AuthError, Staff, issue_token, require_role, verify_token

SECRET = "unit-test-secret-" + "0123456789abcdef" * 4  # >= 64 bytes, enough even for HS512
OTHER = "another-secret-" + "fedcba9876543210" * 4


def bearer(token: str) -> str:
    return f"Bearer {token}"


def test_roles():
    assert ROLES == ("triage_officer", "unit_handler", "leader", "supervisor", "admin", "service")
    assert ALGORITHM == "HS256" and ISSUER == "qhwy"


@pytest.mark.parametrize("role", [r for r in ROLES if r != "unit_handler"])
def test_round_trip_county_roles(role):
    staff = verify_token(SECRET, bearer(issue_token(SECRET, sub="li.si", role=role)))
    assert staff == Staff(sub="li.si", role=role, unit=None, name=None)


def test_round_trip_unit_handler_with_unit_and_name():
    token = issue_token(SECRET, sub="wang.wu", role="unit_handler", unit="fagai", name="王五")
    assert verify_token(SECRET, bearer(token)) == Staff(sub="wang.wu", role="unit_handler", unit="fagai", name="王五")


def test_claims_written():
    token = issue_token(SECRET, sub="wang.wu", role="unit_handler", unit="fagai", name="王五", ttl_seconds=600,
                        now=1_800_000_000.7)
    claims = jwt.decode(token, SECRET, algorithms=["HS256"], options={"verify_exp": False, "verify_iat": False})
    assert claims == {"iss": "qhwy", "sub": "wang.wu", "role": "unit_handler", "iat": 1_800_000_000,
                      "exp": 1_800_000_600, "unit": "fagai", "name": "王五"}
    assert jwt.get_unverified_header(token)["alg"] == "HS256"


def test_default_lifetime_is_eight_hours():
    claims = jwt.decode(issue_token(SECRET, sub="a", role="admin"), SECRET, algorithms=["HS256"])
    assert claims["exp"] - claims["iat"] == 8 * 3600
    assert abs(claims["iat"] - time.time()) < 60


def test_surrounding_whitespace_after_bearer_is_tolerated():
    token = issue_token(SECRET, sub="a", role="leader")
    assert verify_token(SECRET, f"Bearer   {token}  ").role == "leader"


def test_expired_token_is_401():
    token = issue_token(SECRET, sub="a", role="admin", ttl_seconds=60, now=time.time() - 3600)
    with pytest.raises(AuthError) as info:
        verify_token(SECRET, bearer(token))
    assert info.value.status == 401
    assert info.value.message == "登录凭证已过期"


def test_token_within_lifetime_is_accepted():
    token = issue_token(SECRET, sub="a", role="admin", ttl_seconds=3600, now=time.time() - 60)
    assert verify_token(SECRET, bearer(token)).sub == "a"


def test_forged_signature_is_401():
    token = issue_token(OTHER, sub="a", role="admin")
    with pytest.raises(AuthError) as info:
        verify_token(SECRET, bearer(token))
    assert (info.value.status, info.value.message) == (401, "登录凭证无效")


def test_tampered_payload_is_401():
    header, _, signature = issue_token(SECRET, sub="a", role="leader").split(".")
    forged_payload = jwt.encode({"iss": ISSUER, "sub": "a", "role": "admin", "iat": int(time.time()),
                                 "exp": int(time.time()) + 600}, OTHER, algorithm="HS256").split(".")[1]
    with pytest.raises(AuthError) as info:
        verify_token(SECRET, bearer(f"{header}.{forged_payload}.{signature}"))
    assert info.value.status == 401


def test_unsigned_token_is_401():
    token = jwt.encode({"iss": ISSUER, "sub": "a", "role": "admin", "iat": int(time.time()),
                        "exp": int(time.time()) + 600}, None, algorithm="none")
    with pytest.raises(AuthError) as info:
        verify_token(SECRET, bearer(token))
    assert info.value.status == 401


@pytest.mark.parametrize("header", [None, "", "Bearer", "Bearer ", "Bearer    ", "Basic dXNlcjpwdw==",
                                    "Token abc", "Bearer not-a-jwt", "Bearer a.b.c", "Bearer ...", "BearerX"])
def test_missing_or_malformed_header_is_401(header):
    with pytest.raises(AuthError) as info:
        verify_token(SECRET, header)
    assert info.value.status == 401
    assert info.value.message in ("需要工作人员登录凭证", "登录凭证无效")


@pytest.mark.parametrize("header", [None, "", "Basic abc", "Token abc"])
def test_missing_header_message(header):
    with pytest.raises(AuthError) as info:
        verify_token(SECRET, header)
    assert info.value.message == "需要工作人员登录凭证"


def claims(**changes):
    now = int(time.time())
    base = {"iss": ISSUER, "sub": "a", "role": "admin", "iat": now, "exp": now + 600}
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


@pytest.mark.parametrize("role", ["root", "ADMIN", "", 1])
def test_unknown_role_in_claims_is_403(role):
    token = jwt.encode(claims(role=role), SECRET, algorithm="HS256")
    with pytest.raises(AuthError) as info:
        verify_token(SECRET, bearer(token))
    assert (info.value.status, info.value.message) == (403, "登录凭证的角色无效")


def test_missing_role_in_claims_is_403():
    token = jwt.encode(claims(role=None), SECRET, algorithm="HS256")
    with pytest.raises(AuthError) as info:
        verify_token(SECRET, bearer(token))
    assert info.value.status == 403


@pytest.mark.parametrize("missing", ["exp", "iat", "sub", "iss"])
def test_missing_required_claim_is_401(missing):
    token = jwt.encode(claims(**{missing: None}), SECRET, algorithm="HS256")
    with pytest.raises(AuthError) as info:
        verify_token(SECRET, bearer(token))
    assert info.value.status == 401


def test_other_issuer_is_401():
    token = jwt.encode(claims(iss="someone-else"), SECRET, algorithm="HS256")
    with pytest.raises(AuthError) as info:
        verify_token(SECRET, bearer(token))
    assert info.value.status == 401


def test_other_algorithm_is_401():
    token = jwt.encode(claims(), SECRET, algorithm="HS512")
    with pytest.raises(AuthError) as info:
        verify_token(SECRET, bearer(token))
    assert info.value.status == 401


def test_crafted_unit_handler_without_unit_is_refused():
    # a unit handler without a unit once saw the whole county (outside probe): such a token is refused outright
    with pytest.raises(AuthError) as refused:
        verify_token(SECRET, bearer(jwt.encode(claims(role="unit_handler"), SECRET, algorithm="HS256")))
    assert refused.value.status == 403
    assert refused.value.message == "承办单位账号的登录凭证未指定单位"


@pytest.mark.parametrize("unit", [None, ""])
def test_unit_handler_token_needs_a_unit(unit):
    with pytest.raises(ValueError, match="needs a unit"):
        issue_token(SECRET, sub="a", role="unit_handler", unit=unit)


@pytest.mark.parametrize("role", ["root", "", "Admin"])
def test_issue_with_unknown_role_raises(role):
    with pytest.raises(ValueError, match="unknown role"):
        issue_token(SECRET, sub="a", role=role)


def test_auth_error_fields():
    err = AuthError(403, "x")
    assert (err.status, err.message, str(err)) == (403, "x", "x")
    assert isinstance(err, Exception)


@pytest.mark.parametrize("staff, unit, visible", [
    (Staff("h", "unit_handler", "fagai"), "fagai", True),
    (Staff("h", "unit_handler", "fagai"), "jingxin", False),
    (Staff("h", "unit_handler", "fagai"), None, False),
    (Staff("h", "unit_handler", None), None, False),
    (Staff("h", "unit_handler", "fagai"), "FAGAI", False),
    *[(Staff("x", role, None), unit, True) for role in ROLES if role != "unit_handler"
      for unit in ("fagai", "jingxin", None)],
    (Staff("x", "leader", "fagai"), "jingxin", True),  # a unit on a county-wide role does not narrow it
])
def test_can_see_unit(staff, unit, visible):
    assert staff.can_see_unit(unit) is visible


def test_require_role_passes_for_a_listed_role():
    require_role(Staff("a", "leader", None), "leader", "admin")
    require_role(Staff("a", "admin", None), "admin")


@pytest.mark.parametrize("role, allowed", [
    ("unit_handler", ("leader", "supervisor", "admin")),
    ("triage_officer", ("admin",)),
    ("admin", ("leader",)),
    ("leader", ()),
])
def test_require_role_raises_403(role, allowed):
    with pytest.raises(AuthError) as info:
        require_role(Staff("a", role, None), *allowed)
    assert (info.value.status, info.value.message) == (403, "当前角色无权执行此操作")


def test_staff_is_frozen():
    staff = Staff("a", "leader", None)
    with pytest.raises(AttributeError):
        staff.role = "admin"
