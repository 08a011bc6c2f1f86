"""structlog set-up: JSON in production, readable in a terminal; personal data masked in every record."""

import logging
import sys
import time
from typing import Any

import structlog

from shared.masking import mask_value


def _mask_personal_data(_: Any, __: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    return {key: mask_value(key, value) for key, value in event_dict.items()}


class RepeatFilter(logging.Filter):
    """Lets the same message through at most once per `seconds`, then says how many were dropped.

    While the broker is down aiokafka logs every failed connection attempt (thousands of identical lines a
    second), which buries everything else and fills disks; one line per interval says the same."""

    def __init__(self, prefix: str, seconds: float = 10.0, clock: Any = time.monotonic):
        super().__init__()
        self.prefix, self.seconds, self.clock = prefix, seconds, clock
        self._last: dict[tuple[str, str], tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith(self.prefix):
            return True
        key = (record.name, str(record.msg))
        now = self.clock()
        last = self._last.get(key)
        if last is not None and now - last[0] < self.seconds:
            self._last[key] = (last[0], last[1] + 1)
            return False
        if last is not None and last[1]:
            record.msg = f"{record.msg} (and {last[1]} more like it in the last {self.seconds:.0f} s)"
        if len(self._last) > 1000:  # only a bound: messages are a small fixed set of templates
            self._last.clear()
        self._last[key] = (now, 0)
        return True


def configure_logging(level: str = "INFO", fmt: str = "auto") -> None:
    """Configure structlog and the stdlib root logger (FastStream, aiokafka and uvicorn log through it)."""
    json_output = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    shared_processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _mask_personal_data,
    ]
    renderer: Any = structlog.processors.JSONRenderer(ensure_ascii=False) if json_output else structlog.dev.ConsoleRenderer()
    structlog.configure(
        processors=[*shared_processors, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                renderer,
            ],
            foreign_pre_chain=shared_processors,
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # aiokafka reports every rebalance and reconnect at INFO/WARNING; keep ours readable.
    logging.getLogger("aiokafka").setLevel(max(logging.WARNING, root.level))
    handler.addFilter(RepeatFilter("aiokafka"))  # on the handler: a logger's filters skip its child loggers


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    return structlog.stdlib.get_logger(name)
