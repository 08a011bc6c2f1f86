"""rating's own settings (QHWY_RATING_* environment variables)."""

from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

# What the oversight unit can find after tracing a dissatisfied case back (倒查); the policy names the first three.
DEFAULT_FINDINGS = {
    "shirking": "推诿塞责",
    "ineffective": "处置不力",
    "abuse_of_power": "滥用职权",
    "delay": "拖延办理",
    "perfunctory": "敷衍应付",
    "no_fault": "未发现问题",
}


class RatingSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="QHWY_RATING_", frozen=True)

    # Signs the enterprise's one-time rating links; empty: QHWY_JWT_SECRET (the links carry their own purpose
    # and audience claims, so a staff token is never a rating link and the other way round).
    link_secret: SecretStr | None = None
    link_valid_days: int = Field(default=14, ge=1)
    # Where enterprises reach the platform; the links sent to them start with it.
    public_base_url: str = "http://127.0.0.1:8000"
    # No rating within this many working days after a resolution: a phone revisit.
    unrated_window_working_days: int = Field(default=3, ge=0)
    # Share of resolved cases that get a phone revisit at once (100: every one); dissatisfied ones always get one on
    # site.
    phone_revisit_percent: int = Field(default=100, ge=0, le=100)
    # Working days the unit has to put a referred (dissatisfied or failed-revisit) case right.
    rectification_working_days: int = Field(default=5, ge=1)
    # The oversight unit that receives referrals (an `oversight` code of the organisation file); empty: the first one.
    oversight_unit: str | None = None
    # Roles that do revisits: 营商办 staff (triage_officer) call and visit; leaders and admins may too.
    revisit_roles: tuple[str, ...] = ("triage_officer", "leader", "admin")
    # Roles that record 营商办's own evaluation of a resolution and import third-party surveys.
    evaluation_roles: tuple[str, ...] = ("triage_officer", "admin")
    # A third-party survey row with a score (0-100) instead of a level is satisfied at this score or above.
    survey_satisfied_score: float = Field(default=80.0, ge=0, le=100)
    # Roles that review a unit's appeal against a rating.
    reviewer_roles: tuple[str, ...] = ("leader", "admin")
    findings: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_FINDINGS))
    scan_interval_seconds: float = Field(default=60.0, gt=0)
    figures_interval_seconds: float = Field(default=30.0, gt=0)
    # A link is sent again on the enterprise's request at most this often per resolution.
    resend_interval_seconds: int = Field(default=300, ge=0)
    # How the links reach the enterprise: written to the log (development) or posted to an SMS gateway.
    notifier: Literal["log", "sms_http"] = "log"
    sms_url: str | None = None
    sms_token: SecretStr | None = None
    sms_timeout_seconds: float = 5.0
    # intake's endpoint that answers a case's full contact ({case_id} is replaced); public events carry it masked,
    # and the SMS gateway, the tracking-page proof and revisit calls need it. Unset: the all-in-one origin
    # (http://127.0.0.1:{QHWY_HTTP_PORT}/api/v1/staff/cases/{case_id}/contact). Asked with a `service` token.
    contact_lookup_url: str | None = None
    # intake's endpoint that checks an enterprise's proof (tracking number + last four digits, one-time code or
    # signed link) under one guessing budget for every route. Unset: the all-in-one origin.
    proof_url: str | None = None
    contact_lookup_timeout_seconds: float = Field(default=5.0, gt=0)
