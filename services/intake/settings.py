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
    # Open311 API keys allowed to create requests (comma separated); empty: anyone may (dev).
    open311_api_keys: tuple[str, ...] = ()
    batch_max_rows: int = 2000
