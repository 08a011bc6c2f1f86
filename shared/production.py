"""Production mode (CONTRACT.md section 4): with QHWY_ENV=production a service refuses to start when it would run
with a development default. The shared defaults are checked here; a service adds its own through
`ServiceContext.development_default` while it is built (intake: a channel webhook without its token)."""

from importlib import resources

import yaml

from shared.settings import DEV_JWT_SECRET, Settings
from shared.staff import StaffSettings, parse_directory


def _packaged_demo_hashes() -> frozenset[str]:
    text = resources.files("shared.data").joinpath("staff.yaml").read_text(encoding="utf-8")
    return frozenset(u.password for u in parse_directory(text).users)


def shared_development_defaults(settings: Settings) -> list[str]:
    """What every service would run with: the development token secret, the packaged demo staff directory."""
    problems = []
    secret = settings.jwt_secret.get_secret_value()
    if secret == DEV_JWT_SECRET:
        problems.append("QHWY_JWT_SECRET is the development secret published in the source")
    elif len(secret) < 32:
        problems.append("QHWY_JWT_SECRET is shorter than 32 characters")
    staff_settings = StaffSettings()
    if not staff_settings.staff_tokens_from_directory:
        problems.append("QHWY_STAFF_TOKENS_FROM_DIRECTORY=false: tokens of users missing from the staff file would "
                        "be honoured")
    staff_file = staff_settings.staff_file
    if staff_file is None:
        problems.append("QHWY_STAFF_FILE is unset: the packaged demo staff directory would be used")
    else:
        try:
            users = parse_directory(staff_file.read_text(encoding="utf-8")).users
        except (OSError, ValueError, yaml.YAMLError) as exc:
            problems.append(f"QHWY_STAFF_FILE cannot be read: {exc}")
        else:
            demo = _packaged_demo_hashes()
            if any(u.password in demo for u in users):
                problems.append("QHWY_STAFF_FILE holds demo users with the published development password")
    return problems
