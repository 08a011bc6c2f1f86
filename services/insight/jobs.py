"""insight's periodic work, also run on demand by its routes: problem groups and early warnings (举一反三), and
the reports of a period."""

import asyncio
from datetime import timedelta
from typing import Any

from services.insight import domain
from services.insight.deps import NAME, Deps
from services.insight.store import stored_instant
from shared.contracts import topics
from shared.contracts.insight_events import InsightEvent, Warning


async def regroup(deps: Deps) -> dict[str, Any]:
    """Recompute the problem groups over the recent cases, record the warnings they raise and publish new ones."""
    cfg, store, tz = deps.settings, deps.store, deps.tz
    now = deps.ctx.clock()
    cases = await store.facts_between(now - timedelta(days=cfg.group_window_days), now + timedelta(days=1))
    cases.sort(key=lambda f: f["received_at"], reverse=True)
    cases = cases[: cfg.group_max_cases]
    texts = [domain.case_text(f) for f in cases]
    from services.insight import similarity  # scikit-learn: imported when first needed, not at start-up

    found = await asyncio.to_thread(similarity.group_texts, texts, cfg.group_similarity)
    docs = domain.group_documents(found, cases, now, tz)
    await store.replace_groups(docs)
    members = {case_id: doc["_id"] for doc in docs for case_id in doc["case_ids"]}
    labels = {doc["_id"]: doc["label"] for doc in docs}
    found_warnings = domain.detect_warnings(
        members, {f["_id"]: f for f in cases}, now, tz, window_days=cfg.warning_window_days,
        baseline_windows=cfg.warning_baseline_windows, min_count=cfg.warning_min_count,
        ratio=cfg.warning_ratio, floor=cfg.warning_baseline_floor)
    new = 0
    for warning in found_warnings:
        new += await store.record_warning({"_id": domain.warning_id(warning), **warning,
                                           "label": labels.get(warning["theme"], ""), "found_at": now})
    await publish_warnings(deps)
    deps.ctx.log.info("problem_groups_refreshed", cases=len(cases), groups=len(docs), new_warnings=new)
    return {"cases": len(cases), "groups": len(docs), "warnings": len(found_warnings), "new_warnings": new}


async def publish_warnings(deps: Deps) -> None:
    """Publish the recorded warnings not yet on the insight-events topic (at least once: ids are stable)."""
    ctx = deps.ctx
    for doc in await deps.store.unpublished_warnings():
        data = Warning(**{k: doc[k] for k in Warning.model_fields if k in doc})
        event = InsightEvent(event_id=doc["_id"], type="insight.warning", key=doc["theme"],
                             occurred_at=doc["found_at"], data=data.model_dump(mode="json"))
        await ctx.broker.publish(event.to_json(), topic=ctx.settings.topic(topics.INSIGHT_EVENTS),
                                 key=event.key.encode(), headers={"content-type": "application/json"})
        ctx.metrics.events_published.labels(NAME, event.type).inc()
        await deps.store.mark_warning_published(doc["_id"])


async def generate_report(deps: Deps, label: str) -> dict[str, Any]:
    """Make and store the report of one period (HTML and PDF); its summary, without the files."""
    from services.insight import charts, report  # matplotlib and reportlab: imported when first needed

    cfg, store, tz, ctx = deps.settings, deps.store, deps.tz, deps.ctx
    now = stored_instant(ctx.clock())
    start, end = domain.period_range(label, tz)
    trend = []
    for period in domain.periods_before(label, cfg.report_trend_periods):
        p_start, p_end = domain.period_range(period, tz)
        trend.append((period, await store.facts_between(p_start, p_end)))
    facts = trend[-1][1]
    groups = await store.groups.find({}).sort("size", -1).limit(30).to_list()
    warnings = await store.warnings_between(start, end + timedelta(days=cfg.warning_window_days))
    content = report.assemble(label=label, facts=facts, trend=trend, groups=groups, warnings=warnings,
                              rules=cfg.ranking_rules, org=ctx.org, now=now, tz=tz,
                              recurrences=await store.closed_recurrences(start, end),
                              officers=await deps.officers.names(None, ctx.log))
    font = charts.cjk_font_file(cfg.font_file)
    async with deps.chart_lock:
        html, pdf = await asyncio.to_thread(report.generate, content, font)
    doc = {"_id": label, "kind": content["kind"], "period": label, "title": content["title"],
           "period_title": content["period_title"], "generated_at": now, "cases": len(facts),
           "html": html, "pdf": pdf}
    await store.put_report(doc)
    ctx.log.info("report_generated", period=label, cases=len(facts), pdf_bytes=len(pdf))
    return {k: v for k, v in doc.items() if k not in ("html", "pdf")}


async def scheduled_reports(deps: Deps) -> None:
    """The weekly and monthly reports of the last complete periods, once each."""
    for kind in ("week", "month"):
        label = domain.last_complete_period(kind, deps.ctx.clock(), deps.tz)
        if not await deps.store.has_report(label):
            await generate_report(deps, label)
