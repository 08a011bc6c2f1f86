"""intake's own settings (QHWY_INTAKE_* environment variables)."""

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class IntakeSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="QHWY_INTAKE_", frozen=True)

    # Where enterprises reach the pages (printed in the QR code); default: the address the request came in on.
    public_base_url: str | None = None
    # Channel codes (of the organisation file) behind each way in.
    qrcode_channel: str = "qrcode"
    liaison_channel: str = "liaison"
    open311_channel: str = "qrcode"
    # Channels whose submissions come from a named reporter on behalf of an enterprise (one by one or a batch).
    reporter_channels: tuple[str, ...] = ("forum", "deputy", "cppcc", "chamber", "industry_chain")
    # Shared secret the hotline system sends in the X-Hotline-Token header; unset: the webhook is open (dev).
    hotline_token: SecretStr | None = None
    # Open311 API keys allowed to create requests (a JSON list, e.g. ["key-1","key-2"]); empty: anyone may (dev).
    open311_api_keys: tuple[str, ...] = ()
    batch_max_rows: int = 2000
    # Open311 listings show the (masked) case text only when the county allows it (CONTRACT.md section 5).
    open311_public_text: bool = False

    # Channel credentials (CONTRACT.md section 1): JSON {"<prefix>": "<key>"}; a caller sending the key in
    # X-Channel-Key may choose submission ids that start with "<prefix>-" (e.g. {"hotline": "...", "city": "..."}).
    channel_credentials: dict[str, SecretStr] = {}
    # An anonymous caller's Idempotency-Key answers the same case for this long.
    idempotency_window_hours: int = 24

    # Proofs of the enterprise (CONTRACT.md section 3): wrong proofs allowed per tracking number (all callers
    # together) and per address, in fixed windows.
    proof_window_seconds: int = 900
    proof_limit_per_tracking_no: int = 5
    proof_limit_per_address: int = 30
    # One-time codes sent to the contact phone.
    code_ttl_seconds: int = 600
    code_max_attempts: int = 5
    code_resend_seconds: int = 60
    # The signed link on the receipt, and the token a proof gives the tracking page.
    receipt_ttl_days: int = 400
    proof_token_ttl_seconds: int = 7200
    # The county's SMS gateway for one-time codes (POST JSON {"phone", "text"}); unset: the log and, in
    # development, GET /dev/sms (the local SMS simulator).
    sms_url: str | None = None
    sms_token: SecretStr | None = None
