"""triage's own settings (QHWY_TRIAGE_*); the review threshold stays in shared settings where it began."""

from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict


class TriageSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="QHWY_TRIAGE_", frozen=True)

    # Place names per region; default: the packaged data/gazetteer.yaml.
    gazetteer: Path | None = None
    # Words per unit beyond the organisation file's duties; default: the packaged data/lexicon.yaml.
    lexicon: Path | None = None
    # The policy's words for a complex case; default: the packaged data/complexity.yaml.
    complexity_cues: Path | None = None
    # The catalogue of administrative matters; default: the packaged shared/data/matters.yaml.
    matters: Path | None = None
    # How enterprises name the units ("派出所", "环保", "找财政"); default: the packaged data/unit_names.yaml.
    unit_names: Path | None = None
    # A case repeats an earlier one only if that one is still open or was registered within this many days; a
    # closed case's problem coming back within this window is a recurrence (recurrence_of), not a new problem.
    duplicate_window_days: int = 90
    # At most this many earlier cases are compared with a new one (they share an LSH key or the enterprise).
    duplicate_candidates: int = 200
    # Also take a case as a repeat of another enterprise's open case: same region, same unit, and much of the same
    # wording or the same matter (a shared road, a park's power line). Turn off where officers link those by hand.
    cross_enterprise_duplicates: bool = True
    # After an officer's decision the text models are refitted in the background this many seconds later (one
    # refit for a burst of decisions); meanwhile the decision itself already applies to cases worded like it.
    refit_delay_seconds: float = 5.0
    # An officer's claim on a case lapses after this many minutes, and another officer may take it.
    claim_minutes: int = 30
