"""The console's jobs at start and on a timer: the in-memory search rows, the outbox sweep, and the watch on
next year's holiday schedule (also asked for by the routes that show or change it)."""

import asyncio
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from services.console.deps import Deps
from shared.workdays import library_schedules, next_year_status, parse_year_file, read_calendar_file


async def sweep_outbox(deps: Deps) -> None:
    await deps.ctx.sweep_outbox(deps.store.cases)


async def load_index(deps: Deps) -> None:
    """Read every case's search row into memory; until then (or if it fails) the store answers searches."""
    started = time.perf_counter()
    try:
        deps.index.load(await deps.store.slim_rows())
    except Exception:  # the store answers searches until a restart loads the rows
        deps.ctx.log.exception("search_index_load_failed")
        return
    deps.ctx.log.info("search_index_loaded", cases=len(deps.index), seconds=round(time.perf_counter() - started, 2))


async def start_loading(deps: Deps) -> None:
    """At start, in the background: reading 100,000 rows takes a while and the store answers meanwhile."""
    deps.loading.append(asyncio.create_task(load_index(deps)))


async def refresh_index(deps: Deps) -> None:
    """With more than one console instance: the rows the others changed lately."""
    since = deps.ctx.clock() - timedelta(seconds=deps.settings.search_refresh_seconds * 3)
    for row in await deps.store.slim_rows(since=since):
        deps.index.put(row)


def known_schedules(deps: Deps) -> dict[str, Any]:
    """What every service's calendar knows now: the package's years, then each file in the directory, then the
    years applied from the 工作日历 page (the calendar file). A broken file is reported, not fatal here: that page
    is where it gets fixed."""
    schedules = library_schedules()
    folder = Path(deps.calendar.settings.holidays_dir)
    broken = []
    if folder.is_dir():
        for path in sorted(folder.glob("*.yaml")):
            try:
                schedule = parse_year_file(path.read_text(encoding="utf-8"))
            except Exception as exc:  # noqa: BLE001 - any reason the loader refuses it
                broken.append({"file": path.name, "message": str(exc)})
                continue
            schedules[schedule.year] = schedule
    applied: dict[int, dict[str, Any]] = {}
    try:
        applied = read_calendar_file(deps.calendar.file)
    except Exception as exc:  # noqa: BLE001
        broken.append({"file": str(deps.calendar.file), "message": str(exc)})
    for year, entry in applied.items():
        schedules[year] = entry["schedule"]
    return {"schedules": schedules, "broken": broken, "applied": applied}


async def refresh_calendar_status(deps: Deps) -> dict[str, Any]:
    """Next year's schedule: the gauges Prometheus alerts on, and the banner admins and leaders see."""
    known = await asyncio.to_thread(known_schedules, deps)
    status = next_year_status(known["schedules"], deps.ctx.clock().astimezone(deps.tz).date())
    watch = deps.calendar
    watch.next_year_missing.clear()
    watch.next_year_missing.labels(str(status["year"])).set(1 if status["warning"] else 0)
    watch.next_year_days_left.set(status["days_left"])
    watch.status.clear()
    watch.status.update(status)
    return status


async def calendar_status(deps: Deps) -> None:
    """The periodic form of refresh_calendar_status (a job returns nothing)."""
    await refresh_calendar_status(deps)
