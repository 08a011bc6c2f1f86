"""What rating's consumer handlers, routes and periodic jobs share, built once by `app.build`."""

from dataclasses import dataclass, field
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Gauge

from services.rating.contacts import ContactLookup
from services.rating.domain import Policy
from services.rating.notifier import Notifier
from services.rating.settings import RatingSettings
from services.rating.store import RatingStore
from shared.locks import KeyedLocks
from shared.runtime import ServiceContext

# gauge `qhwy_rating_<name>` -> (the key of a group of figures.figures() it shows, its help text)
FIGURE_GAUGES = {
    "satisfaction_ratio": ("satisfaction_rate", "满意率: satisfied / counted ratings (excluded ratings left out)"),
    "unrated_ratio": ("unrated_rate", "未评价率: resolutions without a rating / resolutions"),
    "rectified_ratio": ("rectified_share",
                        "Referred resolutions whose next resolution was rated satisfied / referred"),
    "revisit_coverage_ratio": ("revisit_coverage", "Resolutions revisited at least once / resolutions"),
    "dissatisfied": ("dissatisfied", "Counted ratings that are not satisfied"),
    "reopened": ("reopened", "Resolutions reopened"),
    "on_time_ratio": ("on_time_rate", "按期办结率: resolutions by their deadline / resolutions"),
}


@dataclass(frozen=True)
class RatingMetrics:
    links_refused: Counter  # by reason (forged, expired, replayed, bad_proof, proof_throttled …)
    ratings_given: Counter  # by level and source (link, tracking_page)
    figures: dict[str, Gauge]  # by the gauge's name in FIGURE_GAUGES
    evaluation: Gauge  # 满意率 by evaluation source, and combined

    @classmethod
    def register(cls, registry: CollectorRegistry) -> "RatingMetrics":
        return cls(
            links_refused=Counter("qhwy_rating_links_refused",
                                  "Rating links refused, by reason (forged, expired, replayed …)", ["reason"],
                                  registry=registry),
            ratings_given=Counter("qhwy_ratings", "Ratings given by enterprises, by level and source",
                                  ["level", "source"], registry=registry),
            figures={name: Gauge(f"qhwy_rating_{name}", help_text, ["scope", "code"], registry=registry)
                     for name, (_, help_text) in FIGURE_GAUGES.items()},
            evaluation=Gauge("qhwy_rating_evaluation_ratio",
                             "满意率 by evaluation source (enterprise, business_office, third_party) and combined",
                             ["scope", "code", "source"], registry=registry),
        )


@dataclass
class Deps:
    ctx: ServiceContext
    settings: RatingSettings
    store: RatingStore
    policy: Policy
    link_secret: str  # signs the enterprise's rating links
    contacts: ContactLookup  # intake: a case's full contact, an enterprise's proof
    proof_url: str  # intake's endpoint that checks an enterprise's proof
    notifier: Notifier
    metrics: RatingMetrics
    weights: dict[str, float]  # of the evaluation sources in the combined 满意率 (organisation file)
    # the consumer and the periodic scan follow a case up one at a time, so that one invitation goes out
    follow_up_locks: KeyedLocks = field(default_factory=KeyedLocks)
    # (store.cases.watched_changes, time.monotonic()) when the figures were last read (the first refresh reads)
    figures_read: tuple[int, float] = (-1, 0.0)
    # (watched_changes, time.monotonic(), the next rating window to end) when the scan last read the store
    scan_read: tuple[int, float, datetime | None] = (-1, 0.0, None)
