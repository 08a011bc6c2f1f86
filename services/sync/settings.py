"""sync's own settings (QHWY_* environment variables): where the city platform and the 12345 hotline are, how
hard to try, and how often to compare notes with them."""

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_APP_SECRET = "qhwy-sync-development-app-secret"


class SyncSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="QHWY_", frozen=True)

    # Mount the city platform and hotline simulator at /sim in this process (the local run turns it on).
    city_simulator: bool = False
    # Base URLs; empty means "not connected": deliveries wait (and show in /api/v1/sync/status) until it is set.
    # With the simulator on, an empty URL points at the mounted simulator.
    city_base_url: str = ""
    hotline_base_url: str = ""
    # The county's application key and signing secret at the city platform and at the hotline.
    city_app_key: str = "kaihua-county"
    city_app_secret: SecretStr = SecretStr(DEV_APP_SECRET)
    hotline_app_key: str = "kaihua-county"
    hotline_app_secret: SecretStr = SecretStr(DEV_APP_SECRET)
    # The field of case.registered that carries the hotline's ticket number (the submission id when it is empty).
    hotline_ticket_field: str = "source_ref"
    # The channel code (organisation file) of cases the city assigns to the county.
    city_channel: str = "city_platform"
    # How a remote side names the county's department in the events sync derives from the city's messages.
    city_actor_prefix: str = "city:"

    sync_request_timeout_seconds: float = 5.0
    # Quick retries of one request (tenacity, exponential with jitter) before the delivery is rescheduled.
    sync_request_attempts: int = 3
    # Rescheduling after a failed attempt: exponential backoff with full jitter, capped.
    sync_backoff_base_seconds: float = 2.0
    sync_backoff_cap_seconds: float = 120.0
    sync_breaker_failures: int = 5
    sync_breaker_reset_seconds: float = 15.0
    sync_dispatch_interval_seconds: float = 0.5
    sync_dispatch_concurrency: int = 16
    sync_dispatch_batch: int = 200
    # Concurrent writes to the store from this process (FerretDB's SQLite backend takes one writer at a time;
    # MongoDB takes more).
    sync_store_writers: int = 1
    # How often the dispatcher re-reads the due times from the store (one scan of `links`; its own writes keep
    # its in-memory due queue current, this catches writes by another process).
    sync_due_rescan_seconds: float = 60.0
    # The city asks for the county's daily figures (POST /v1/county-figures); how often to look for a day to report.
    sync_city_figures: bool = True
    sync_figures_check_seconds: float = 600.0
    sync_poll_interval_seconds: float = 2.0
    sync_reconcile_interval_seconds: float = 300.0
    # How far back reconciliation compares the two sides.
    sync_reconcile_window_hours: float = 72.0
