"""The staff directory: who may sign in to the console, with which role and unit, and who is disabled.

A data file (default: the packaged shared/data/staff.yaml; replace it with QHWY_STAFF_FILE), reread when its
modification time changes, so disabling someone takes effect without a restart. Passwords are stored as
scrypt hashes with a per-user salt:  python -m shared.staff hash  (prompts for the password).
"""

import getpass
import hashlib
import hmac
import os
import sys
import threading
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.auth import ROLES

# scrypt cost: ~16 MiB and a few tens of milliseconds per check, slow enough against guessing a stolen file
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1


class StaffSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="QHWY_", frozen=True, extra="ignore")

    staff_file: Path | None = None
    # A staff token is honoured only for a user of the directory, with the role and unit the directory gives
    # (a removed user or a changed role ends old tokens). Tests that mint tokens for made-up users turn it off;
    # production mode refuses to start with it off.
    staff_tokens_from_directory: bool = True


class StaffUser(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=64)
    role: str
    unit: str | None = None
    password: str = Field(description="scrypt$<n>$<r>$<p>$<salt hex>$<hash hex>")
    disabled: bool = False

    @model_validator(mode="after")
    def _consistent(self) -> "StaffUser":
        if self.role not in ROLES or self.role == "service":
            raise ValueError(f"user {self.id}: role {self.role!r} is not a staff role")
        if self.role == "unit_handler" and not self.unit:
            raise ValueError(f"user {self.id}: a unit_handler needs a unit")
        return self


class StaffFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    users: tuple[StaffUser, ...]

    @model_validator(mode="after")
    def _unique(self) -> "StaffFile":
        ids = [u.id for u in self.users]
        if len(ids) != len(set(ids)):
            raise ValueError("duplicate user ids in the staff directory")
        return self


def hash_password(password: str, salt: bytes | None = None) -> str:
    salt = salt if salt is not None else os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${salt.hex()}${digest.hex()}"


def password_matches(stored: str, password: str) -> bool:
    try:
        scheme, n, r, p, salt, expected = stored.split("$")
        if scheme != "scrypt":
            return False
        digest = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p),
                                dklen=len(expected) // 2)
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(digest.hex(), expected)


def parse_directory(text: str) -> StaffFile:
    return StaffFile.model_validate(yaml.safe_load(text) or {"users": []})


@dataclass
class StaffDirectory:
    """The directory file, reloaded when it changes on disk. A broken edit keeps the last good version."""

    path: Path | None = None

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._mtime: float | None = None
        self._users: dict[str, StaffUser] = {}
        self._load()

    def _read(self) -> str:
        if self.path is None:
            return resources.files("shared.data").joinpath("staff.yaml").read_text(encoding="utf-8")
        return self.path.read_text(encoding="utf-8")

    def _load(self) -> None:
        mtime = self.path.stat().st_mtime if self.path is not None else 0.0
        parsed = parse_directory(self._read())
        self._users = {u.id: u for u in parsed.users}
        self._mtime = mtime

    def _fresh(self) -> None:
        if self.path is None:
            return
        try:
            mtime = self.path.stat().st_mtime
        except OSError:
            return  # a file being replaced: keep what we have
        if mtime != self._mtime:
            with self._lock:
                try:
                    self._load()
                except (ValueError, OSError, yaml.YAMLError):
                    self._mtime = mtime  # not retried until the file changes again

    def get(self, user_id: str) -> StaffUser | None:
        self._fresh()
        return self._users.get(user_id)

    def users(self) -> list[StaffUser]:
        self._fresh()
        return list(self._users.values())

    def authenticate(self, user_id: str, password: str) -> StaffUser | None:
        """The user when the password is right and the account enabled; None otherwise (one answer for all)."""
        user = self.get(user_id)
        if user is None:
            password_matches(_DUMMY_HASH, password)  # the same work either way: no probing for user names
            return None
        if not password_matches(user.password, password) or user.disabled:
            return None
        return user

    def is_disabled(self, user_id: str) -> bool:
        user = self.get(user_id)
        return bool(user and user.disabled)


_DUMMY_HASH = hash_password("not-a-password", salt=b"\0" * 16)
_default: StaffDirectory | None = None
_default_lock = threading.Lock()


def default_directory() -> StaffDirectory:
    """The process's directory, from QHWY_STAFF_FILE (or the packaged file)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = StaffDirectory(StaffSettings().staff_file)
        return _default


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    if args[:1] != ["hash"]:
        print("usage: python -m shared.staff hash   (prints the scrypt hash of a password for staff.yaml)")
        return 2
    print(hash_password(getpass.getpass("password: ")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
