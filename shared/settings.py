"""Runtime settings, read from QHWY_* environment variables (the same names locally and in docker-compose)."""

from functools import cached_property
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_JWT_SECRET = "qhwy-development-secret-change-me"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="QHWY_", frozen=True)

    kafka_bootstrap: str = "127.0.0.1:9092"
    mongo_url: str = "mongodb://127.0.0.1:27017"
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    data_dir: Path = Path("var")
    # The organisation file (regions, departments, channels, time limits); default: the packaged kaihua.yaml.
    org_file: Path | None = None
    # Prefix for every topic name, so test runs (or tenants on one cluster) never see each other's data.
    topic_namespace: str = ""
    topic_partitions: int = 3
    # Each service's database is "<db_prefix>_<service>".
    db_prefix: str = "qhwy"
    jwt_secret: SecretStr = SecretStr(DEV_JWT_SECRET)
    # Peers whose X-Real-IP / X-Forwarded-For names the caller (the platform's own front, nginx).
    trusted_proxies: tuple[str, ...] = ("127.0.0.1", "::1")
    # development | production (CONTRACT.md section 4): production refuses to start on a development default.
    env: Literal["development", "production"] = "development"
    # Kafka client authentication (production: SASL_PLAINTEXT or SASL_SSL with SCRAM-SHA-512; each service has
    # its own principal). The development loopback listener takes PLAINTEXT clients.
    kafka_security_protocol: Literal["PLAINTEXT", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: Literal["SCRAM-SHA-256", "SCRAM-SHA-512", "PLAIN"] = "SCRAM-SHA-512"
    kafka_username: str | None = None
    kafka_password: SecretStr | None = None
    log_format: Literal["auto", "console", "json"] = "auto"
    log_level: str = "INFO"
    # one INFO line per service this often (what it consumed, whether it is healthy): an idle platform's only output
    heartbeat_seconds: float = 60.0
    timezone: str = "Asia/Shanghai"
    # Below this confidence an automatic triage decision waits for an officer.
    triage_review_threshold: float = 0.6
    # The channel code of the 12345 hotline, whose tickets get their results sent back.
    hotline_channel: str = "hotline"
    # Consumers take up to this many records at a time and handle different keys of a batch concurrently (at
    # most this many at once; a consumer that must see every record before the next says 1).
    consumer_batch: int = 200
    consumer_concurrency: int = 16
    # Store a batch's case-document writes together (shared.store.UnitOfWork: bulk writes per collection and batch,
    # in commands of at most 50 statements, which FerretDB 1.24 needs: shared.store.BULK_WRITE_CHUNK). About twice
    # the throughput on FerretDB (docs/operations.md "Load benchmark"); QHWY_CONSUMER_UNIT_OF_WORK=false writes each
    # handler's change on its own.
    consumer_unit_of_work: bool = True
    sla_scan_interval_seconds: float = 15.0
    outbox_sweep_interval_seconds: float = 10.0

    def topic(self, name: str) -> str:
        return f"{self.topic_namespace}.{name}" if self.topic_namespace else name

    def database(self, service: str) -> str:
        return f"{self.db_prefix}_{service}"

    def group_id(self, service: str, topic: str) -> str:
        """One consumer group per service and topic, so a service's consumers never rebalance each other."""
        return f"{self.topic_namespace or 'qhwy'}.{service}.{topic.removeprefix('qhwy.')}"

    @cached_property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)
