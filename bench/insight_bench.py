"""make bench-insight: how long insight takes to rebuild its projections and to generate a report.

1. The projection core on --events case events (default 1,000,000) in memory: fold into facts, then every
   figure (overall, per unit, region, liaison officer, for each month) and the 晾晒 rankings.
2. End to end on --e2e-events (default 100,000; a million through Kafka and FerretDB takes too long on this
   2-core machine): publish them to a fresh topic, rebuild from offset 0 into a fresh database (read, fold, write).
3. A monthly report: problem groups over --group-cases cases, then content, charts, HTML and PDF.
"""

import argparse
import asyncio
import os
import socket
import sys
import time
import uuid
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from services.insight import charts, domain, report, similarity  # noqa: E402
from services.insight.rebuild import rebuild  # noqa: E402
from services.insight.settings import InsightSettings  # noqa: E402
from services.insight.synthetic import generate  # noqa: E402
from shared.org import load_organisation  # noqa: E402
from shared.settings import Settings  # noqa: E402

TZ = ZoneInfo("Asia/Shanghai")
START = datetime(2026, 1, 1, tzinfo=TZ)
EVENTS_PER_CASE = 6.1  # what the synthetic stream averages


def cases_for(events: int) -> int:
    return max(1, int(events / EVENTS_PER_CASE))


def timed(label: str, func, *args, **kwargs):  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    result = func(*args, **kwargs)
    print(f"  {label:<58} {time.perf_counter() - started:8.2f} s")
    return result


def core(org, events: int) -> list[dict]:  # type: ignore[no-untyped-def]
    print("1. projection core, in memory")
    stream = timed("generate the events", lambda: list(generate(org, cases_for(events), START, days=365)))
    print(f"  {'events':<58} {len(stream):>10,}")
    started = time.perf_counter()
    facts = domain.fold_all(stream)
    fold_seconds = time.perf_counter() - started
    print(f"  {'fold into facts (%d cases)' % len(facts):<58} {fold_seconds:8.2f} s"
          f"   ({len(stream) / fold_seconds:,.0f} events/s)")
    values = list(facts.values())
    timed("figures overall", domain.figures, values)
    for dimension in ("unit", "region", "liaison", "handler"):
        timed(f"figures per {dimension}", domain.figures_by, values, dimension)
    months = domain.periods_before("2026-12", 12)

    def per_month() -> None:
        for label in months:
            start, end = domain.period_range(label, TZ)
            domain.figures_by([f for f in values if start <= f["received_at"] < end], "unit")

    timed("figures per unit for each of 12 months", per_month)
    timed("晾晒 rankings (default rules, the whole year)", domain.rankings, InsightSettings().ranking_rules, values,
          datetime(2027, 1, 5, tzinfo=TZ))
    print(f"  {'total: the full rebuild of the projection in memory':<58} "
          f"{time.perf_counter() - started:8.2f} s (without generating)")
    return values


def reachable(hostport: str) -> bool:
    host, port = hostport.rsplit(":", 1)
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex((host, int(port))) == 0


async def end_to_end(org, events: int) -> None:  # type: ignore[no-untyped-def]
    from aiokafka import AIOKafkaProducer

    from shared.messaging import ensure_topics

    base = Settings()
    namespace = f"bench{uuid.uuid4().hex[:8]}"
    settings = Settings(topic_namespace=namespace, db_prefix=namespace)
    print(f"2. end to end through Kafka and the store (namespace {namespace})")
    if not (reachable(base.kafka_bootstrap) and reachable(base.mongo_url.removeprefix("mongodb://").split("/")[0])):
        print("  skipped: Kafka or the store is not running (make infra-up)")
        return
    topic = settings.topic("qhwy.case-events.v1")
    await ensure_topics(settings.kafka_bootstrap, [topic], settings.topic_partitions)
    stream = list(generate(org, cases_for(events), START, days=365, seed=11))
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all", linger_ms=20,
                                max_batch_size=512 * 1024)
    await producer.start()
    started = time.perf_counter()
    try:
        pending = []
        for event in stream:
            pending.append(await producer.send(topic, event.to_json(), key=event.case_id.encode()))
            if len(pending) >= 20_000:
                await asyncio.gather(*pending)
                pending = []
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    print(f"  {'publish %d events' % len(stream):<58} {time.perf_counter() - started:8.2f} s")
    stats = await rebuild(settings)
    print(f"  {'rebuild: read the topic from offset 0':<58} {stats['read_seconds']:8.2f} s")
    print(f"  {'rebuild: fold %d cases' % stats['cases']:<58} {stats['fold_seconds']:8.2f} s")
    print(f"  {'rebuild: write the facts':<58} {stats['write_seconds']:8.2f} s")
    print(f"  {'rebuild total (%d events)' % stats['events']:<58} {stats['total_seconds']:8.2f} s"
          f"   ({stats['events'] / stats['total_seconds']:,.0f} events/s)")
    from pymongo import MongoClient

    from aiokafka.admin import AIOKafkaAdminClient

    MongoClient(settings.mongo_url, directConnection=True).drop_database(settings.database("insight"))
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        await admin.delete_topics([topic])
    finally:
        await admin.close()


def report_generation(org, facts: list[dict], group_cases: int) -> None:  # type: ignore[no-untyped-def]
    print("3. a monthly report")
    now = datetime(2026, 12, 2, 9, tzinfo=TZ)
    label = "2026-11"
    started = time.perf_counter()
    recent = sorted((f for f in facts if f["received_at"] < now), key=lambda f: f["received_at"])[-group_cases:]
    found = timed(f"problem groups over {len(recent)} cases", similarity.group_texts,
                  [domain.case_text(f) for f in recent], 0.35)
    groups = domain.group_documents(found, recent, now, TZ)
    trend = []
    for period in domain.periods_before(label, 8):
        start, end = domain.period_range(period, TZ)
        trend.append((period, [f for f in facts if start <= f["received_at"] < end]))
    content = timed(f"content ({len(trend[-1][1])} cases in the month)", lambda: report.assemble(
        label=label, facts=trend[-1][1], trend=trend, groups=groups, warnings=[],
        rules=InsightSettings().ranking_rules, org=org, now=now, tz=TZ))
    font = charts.cjk_font_file(InsightSettings().font_file)
    images = timed("charts (matplotlib)", report.draw_charts, content, font)
    html = timed("HTML", report.render_html, content, images)
    pdf = timed("PDF (reportlab)", report.render_pdf, content, images, font)
    print(f"  {'report total (HTML %d KB, PDF %d KB)' % (len(html) // 1024, len(pdf) // 1024):<58} "
          f"{time.perf_counter() - started:8.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--e2e-events", type=int, default=100_000)
    parser.add_argument("--group-cases", type=int, default=20_000)
    args = parser.parse_args()
    org = load_organisation()
    print(f"insight benchmark on {os.cpu_count()} cores")
    facts = core(org, args.events)
    if args.e2e_events:
        asyncio.run(end_to_end(org, args.e2e_events))
    report_generation(org, facts, args.group_cases)


if __name__ == "__main__":
    main()
