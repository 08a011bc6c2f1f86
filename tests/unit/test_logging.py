"""Log hygiene: floods of identical library lines are held back."""

import logging

from shared.logging import RepeatFilter


def test_repeated_aiokafka_lines_are_kept_to_one_per_interval() -> None:
    now = [0.0]
    repeat = RepeatFilter("aiokafka", seconds=10, clock=lambda: now[0])

    def record(name: str, msg: str) -> logging.LogRecord:
        return logging.LogRecord(name, logging.ERROR, __file__, 1, msg, ("node-1",), None)

    assert repeat.filter(record("aiokafka.conn", "Unable connect to %s"))
    assert not any(repeat.filter(record("aiokafka.conn", "Unable connect to %s")) for _ in range(500))
    assert repeat.filter(record("aiokafka.client", "Another %s"))  # another message is its own
    assert repeat.filter(record("qhwy.intake", "Unable connect to %s"))  # other loggers are never held back
    now[0] = 11.0
    again = record("aiokafka.conn", "Unable connect to %s")
    assert repeat.filter(again) and "500 more" in again.getMessage()
