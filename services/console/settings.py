"""console's own settings (QHWY_CONSOLE_*)."""

from pydantic_settings import BaseSettings, SettingsConfigDict


class ConsoleSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="QHWY_CONSOLE_", frozen=True, extra="ignore")

    # lifetime of a token issued at sign-in: one working day
    token_ttl_seconds: int = 8 * 3600
    # with more than one console instance: how often each rereads the search rows the others changed (0: never)
    search_refresh_seconds: float = 0.0
