"""What triage's handlers, routes and jobs share: one instance per process, made by app.build()."""

import asyncio
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from services.triage import classifier, duplicates
from services.triage.catalogue import Catalogue, load_catalogue
from services.triage.domain import ComplexityCues, DutyRules, Triage, load_complexity_cues, load_lexicon
from services.triage.dup_index import DuplicateIndex
from services.triage.gazetteer import Gazetteer, load_gazetteer
from services.triage.learning import OfficerMemory
from services.triage.segment import Segmenter
from services.triage.settings import TriageSettings
from services.triage.store import TriageStore
from services.triage.units import UnitNames, load_unit_names
from shared.org import Organisation
from shared.runtime import ServiceContext

NAME = "triage"


@dataclass(frozen=True)
class Knowledge:
    """What decisions are made from besides the fitted models, loaded once at start: places, the units' words,
    the policy's words for a complex case, the matters catalogue, how enterprises name the units, the segmenter."""

    gazetteer: Gazetteer
    rules: DutyRules
    cues: ComplexityCues
    catalogue: Catalogue
    unit_names: UnitNames
    segmenter: Segmenter

    @classmethod
    def load(cls, org: Organisation, settings: TriageSettings) -> "Knowledge":
        gazetteer = load_gazetteer(org, settings.gazetteer)
        rules = DutyRules.build(org, load_lexicon(settings.lexicon))
        cues = load_complexity_cues(settings.complexity_cues)
        catalogue = load_catalogue(org, settings.matters)
        unit_names = load_unit_names(org, settings.unit_names)
        segmenter = Segmenter.build(org, words_of(catalogue, rules))
        return cls(gazetteer, rules, cues, catalogue, unit_names, segmenter)

    def words(self) -> dict[str, list[str]]:
        return words_of(self.catalogue, self.rules)


def words_of(catalogue: Catalogue, rules: DutyRules) -> dict[str, list[str]]:
    """The catalogue's words and each unit's duty and lexicon words: what the segmenter and the models know."""
    return {**catalogue.words(), **{k: list(v) for k, v in rules.words.items()}}


@dataclass(frozen=True)
class TriageMetrics:
    decisions: Counter
    decide_seconds: Histogram

    @classmethod
    def register(cls, registry: CollectorRegistry, index: DuplicateIndex) -> "TriageMetrics":
        decisions = Counter("qhwy_triage_decisions_total", "Triage decisions", ["decided_by", "screening", "review"],
                            registry=registry)
        indexed = Gauge("qhwy_triage_duplicate_index_cases", "Cases held in memory as possible originals of a repeat",
                        registry=registry)
        indexed.set_function(lambda: len(index))
        seconds = Histogram("qhwy_triage_decide_seconds", "Time to decide on one case (model and duplicate lookup)",
                            registry=registry, buckets=(0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1.0))
        return cls(decisions, seconds)


@dataclass(repr=False)  # repr=False: a failing periodic job logs its name, not every dependency
class Deps:
    ctx: ServiceContext
    settings: TriageSettings
    store: TriageStore
    knowledge: Knowledge
    vocabulary: duplicates.Vocabulary  # bigram weights of the training corpus (duplicate search, officer memory)
    memory: OfficerMemory  # officers' decisions, applied at once to cases worded like them
    index: DuplicateIndex  # the cases a new one may repeat, in memory
    metrics: TriageMetrics
    current: Triage | None = None  # the decision maker with the latest fitted models (jobs.train)
    refit: asyncio.Task[None] | None = None  # the pending background refit after officers' decisions

    @classmethod
    def build(cls, ctx: ServiceContext, settings: TriageSettings) -> "Deps":
        knowledge = Knowledge.load(ctx.org, settings)
        vocabulary = duplicates.Vocabulary.build(c["content"] for c in classifier.load_corpus("train"))
        index = DuplicateIndex()
        return cls(ctx, settings, TriageStore(ctx.db, ctx.clock), knowledge, vocabulary, OfficerMemory(vocabulary),
                   index, TriageMetrics.register(ctx.registry, index))

    @property
    def triage(self) -> Triage:
        if self.current is None:
            raise RuntimeError("triage's models are not trained yet (jobs.train runs before consuming)")
        return self.current

    @property
    def tz(self) -> ZoneInfo:
        return self.ctx.settings.tz
