"""The staff directory: scrypt passwords, disabled accounts, reloading the file when it changes."""

import os
from pathlib import Path

import pytest
from starlette.requests import Request

from shared import staff as staff_module
from shared.auth import AuthError, issue_token
from shared.http import staff_of
from shared.staff import StaffDirectory, hash_password, parse_directory, password_matches

SECRET = "unit-test-secret-of-at-least-32-bytes"


def user(id_: str, role: str = "leader", unit: str | None = None, password: str = "pw-1",
         disabled: bool = False) -> str:
    unit_line = f"\n    unit: {unit}" if unit else ""
    return (f"  - id: {id_}\n    name: 测试{id_}\n    role: {role}{unit_line}\n"
            f"    password: \"{hash_password(password)}\"\n    disabled: {str(disabled).lower()}\n")


def write(path: Path, *users: str) -> None:
    path.write_text("users:\n" + "".join(users), encoding="utf-8")


def test_password_hashes_are_salted_and_checked() -> None:
    first, second = hash_password("secret"), hash_password("secret")
    assert first != second and first.startswith("scrypt$")
    assert password_matches(first, "secret") and password_matches(second, "secret")
    assert not password_matches(first, "Secret") and not password_matches("plain-text", "plain-text")


def test_sign_in_needs_the_right_password_and_an_enabled_account(tmp_path: Path) -> None:
    path = tmp_path / "staff.yaml"
    write(path, user("a"), user("b", disabled=True))
    directory = StaffDirectory(path)
    assert directory.authenticate("a", "pw-1").id == "a"
    assert directory.authenticate("a", "wrong") is None
    assert directory.authenticate("b", "pw-1") is None and directory.is_disabled("b")
    assert directory.authenticate("nobody", "pw-1") is None and not directory.is_disabled("nobody")


def test_the_directory_is_reread_when_the_file_changes_and_a_broken_edit_keeps_the_last_good_one(
        tmp_path: Path) -> None:
    path = tmp_path / "staff.yaml"
    write(path, user("a"))
    directory = StaffDirectory(path)
    assert not directory.is_disabled("a")
    write(path, user("a", disabled=True))
    os.utime(path, (1, 1_000_000))
    assert directory.is_disabled("a")
    path.write_text("users: [ {id: broken", encoding="utf-8")
    os.utime(path, (1, 2_000_000))
    assert directory.is_disabled("a")  # still the last good version


def test_a_directory_entry_must_be_consistent() -> None:
    with pytest.raises(ValueError, match="needs a unit"):
        parse_directory("users:\n" + user("h", role="unit_handler"))
    with pytest.raises(ValueError, match="not a staff role"):
        parse_directory("users:\n" + user("s", role="service"))
    with pytest.raises(ValueError, match="duplicate"):
        parse_directory("users:\n" + user("x") + user("x"))


def test_the_packaged_directory_has_a_user_per_role_and_one_disabled() -> None:
    users = StaffDirectory(None).users()
    assert {u.role for u in users} == {"triage_officer", "unit_handler", "leader", "supervisor", "admin"}
    assert any(u.disabled for u in users)


def request_with(token: str) -> Request:
    return Request({"type": "http", "headers": [(b"authorization", f"Bearer {token}".encode())]})


def test_a_disabled_users_token_is_refused_everywhere_others_keep_working(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "staff.yaml"
    write(path, user("gone", disabled=True), user("here"))
    monkeypatch.setattr(staff_module, "_default", StaffDirectory(path))
    with pytest.raises(AuthError) as refused:
        staff_of(request_with(issue_token(SECRET, sub="gone", role="leader")), SECRET)
    assert refused.value.status == 401
    assert staff_of(request_with(issue_token(SECRET, sub="here", role="leader")), SECRET).sub == "here"
    # a token for someone outside the directory, or with a role the directory no longer gives, is refused
    # (outside probe: such tokens were accepted)
    for token, message in ((issue_token(SECRET, sub="script", role="admin"), "该账号不在工作人员名录中"),
                           (issue_token(SECRET, sub="here", role="admin"),
                            "登录凭证与工作人员名录不符（角色或单位已变更），请重新登录"),
                           (issue_token(SECRET, sub="here", role="unit_handler", unit="fagai"),
                            "登录凭证与工作人员名录不符（角色或单位已变更），请重新登录")):
        with pytest.raises(AuthError) as refused:
            staff_of(request_with(token), SECRET)
        assert (refused.value.status, refused.value.message) == (401, message)
    # the platform's own services are not people: their tokens open only the routes made for them
    assert staff_of(request_with(issue_token(SECRET, sub="rating", role="service")), SECRET,
                    allow_service=True).sub == "rating"
