"""structlog set-up: one JSON line per record for every logger (ours, uvicorn, FastStream, aiokafka, httpx),
readable in a terminal; local timestamps with their offset; tracebacks as structured fields; personal data
masked in every record; libraries quiet (WARNING) so that an idle platform says nothing but its heartbeats."""

import logging
import re
import sys
import time
from datetime import datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from structlog.tracebacks import ExceptionDictTransformer
from structlog.typing import EventDict

from shared.masking import mask_value

# Libraries that log at INFO what an operator never needs (httpx one line per request: 60 a minute from sync's
# polling; matplotlib's font cache; aiokafka's rebalances and reconnects; FastStream's per-subscriber lines).
QUIET_LOGGERS = ("httpx", "httpcore", "matplotlib", "PIL", "aiokafka", "kafka", "faststream", "asyncio", "jieba",
                 "pymongo", "urllib3", "multipart", "python_multipart", "reportlab", "fontTools")
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
# A traceback as data: type, message and the frames (file, line, function), without locals; deep recursions cut.
_EXCEPTION = ExceptionDictTransformer(show_locals=False, max_frames=20)


_UNMASKED = frozenset({"exc_info", "_record", "_from_structlog", "stack_info"})


def _mask_personal_data(_: Any, __: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    return {key: value if key in _UNMASKED else mask_value(key, value) for key, value in event_dict.items()}


def _strip_ansi(_: Any, __: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """Libraries colour some messages (uvicorn's "running on" line): never into the log stream."""
    event = event_dict.get("event")
    if isinstance(event, str) and "\x1b" in event:
        event_dict["event"] = ANSI.sub("", event)
    event_dict.pop("color_message", None)
    return event_dict


def _drop_stdlib_extras(_: Any, __: str, event_dict: EventDict) -> EventDict:
    event_dict.pop("_from_structlog", None)
    return event_dict


class LocalTimeStamper:
    """`timestamp`: ISO 8601 in the platform's time zone with its offset (2026-03-02T09:15:00.123+08:00)."""

    def __init__(self, tz: tzinfo, clock: Any = time.time):
        self.tz, self.clock = tz, clock

    def __call__(self, _: Any, __: str, event_dict: dict[str, Any]) -> dict[str, Any]:
        event_dict["timestamp"] = datetime.fromtimestamp(self.clock(), self.tz).isoformat(timespec="milliseconds")
        return event_dict


def structured_exception(_: Any, __: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """`exc_info` -> `exception`: [{"exc_type", "exc_value", "frames": [{"filename", "lineno", "name"}, ...]}]
    (one entry per exception in a chain), instead of the formatted traceback string."""
    exc_info = event_dict.pop("exc_info", None)
    if not exc_info:
        return event_dict
    if exc_info is True:
        exc_info = sys.exc_info()
    elif isinstance(exc_info, BaseException):
        exc_info = (type(exc_info), exc_info, exc_info.__traceback__)
    if not isinstance(exc_info, (tuple, list)) or exc_info[0] is None:
        return event_dict
    exc_type, exc_value, traceback = exc_info
    chain = _EXCEPTION((exc_type, exc_value, traceback))
    for entry in chain:
        if isinstance(entry.get("exc_value"), str) and len(entry["exc_value"]) > 2000:
            entry["exc_value"] = entry["exc_value"][:2000] + "…"
        for frame in entry.get("frames", []):
            frame.pop("line", None)  # the source text: the file and line number are enough
            frame.pop("locals", None)
        if entry.get("syntax_error") is None:
            entry.pop("syntax_error", None)
    event_dict["exception"] = chain
    return event_dict


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


def processors(tz: tzinfo, json_output: bool = True) -> list[Any]:
    """What every record goes through, ours and the libraries' alike, before rendering. In JSON the traceback
    becomes data first, so that masking reaches the exception messages too; a terminal shows it as Python does."""
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        LocalTimeStamper(tz),
        structlog.stdlib.PositionalArgumentsFormatter(),
        _strip_ansi,
        *([structured_exception] if json_output else []),
        _mask_personal_data,
    ]


def formatter(json_output: bool, tz: tzinfo) -> structlog.stdlib.ProcessorFormatter:
    renderer: Any = (structlog.processors.JSONRenderer(ensure_ascii=False, default=str) if json_output
                     else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty()))
    return structlog.stdlib.ProcessorFormatter(
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, _drop_stdlib_extras, renderer],
        foreign_pre_chain=processors(tz, json_output),
    )


def configure_logging(level: str = "INFO", fmt: str = "auto", timezone: str | tzinfo = "Asia/Shanghai") -> None:
    """Configure structlog and the stdlib root logger; every library logs through the root's one handler."""
    json_output = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    tz = ZoneInfo(timezone) if isinstance(timezone, str) else timezone
    structlog.configure(
        processors=[*processors(tz, json_output), structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter(json_output, tz))
    handler.addFilter(RepeatFilter("aiokafka"))  # on the handler: a logger's filters skip its child loggers
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
    # Libraries that install their own console handler (FastStream's colourised one on "faststream", with
    # propagate off; uvicorn's unless told otherwise): theirs removed, their records through the root's handler
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "faststream", "faststream.access"):
        logging.getLogger(name)
    for logger in list(logging.root.manager.loggerDict.values()):
        if isinstance(logger, logging.Logger):
            streams = [h for h in logger.handlers if type(h) is logging.StreamHandler]
            for h in streams:
                logger.removeHandler(h)
            if streams or logger.name.split(".")[0] in ("uvicorn", "faststream"):
                logger.propagate = True
    logging.captureWarnings(True)


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    return structlog.stdlib.get_logger(name)
