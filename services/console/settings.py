"""console's own settings (QHWY_CONSOLE_*)."""

from pydantic_settings import BaseSettings, SettingsConfigDict


class ConsoleSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="QHWY_CONSOLE_", frozen=True, extra="ignore")

    # lifetime of a token issued at sign-in: one working day
    token_ttl_seconds: int = 8 * 3600
    # with more than one console instance: how often each rereads the search rows the others changed (0: never)
    search_refresh_seconds: float = 0.0
    # sign-in: after this many failures for one user name (or one client address) within the window, 429
    login_attempts: int = 5
    login_window_seconds: float = 300.0
    # Also count failures per client address. Off by default: behind the compose front proxy every user has the
    # proxy's address, and five mistakes by anyone would lock everyone out. Turn on where clients connect directly.
    login_limit_by_address: bool = False
    # how often the next year's holiday schedule is looked for (the gauge qhwy_calendar_next_year_missing, the banner)
    calendar_check_seconds: float = 300.0
