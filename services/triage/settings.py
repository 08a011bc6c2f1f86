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
    # A case repeats an earlier one only if that one is still open or was registered within this many days.
    duplicate_window_days: int = 30
    # At most this many earlier cases are compared with a new one (they share an LSH key or the enterprise).
    duplicate_candidates: int = 200
    # Also take a case as a repeat of another enterprise's case (same region, nearly the same words). Off by default:
    # two enterprises' "same" request (a capacity increase, a permit) is usually two cases; turn it on where
    # reports about shared things (a road, a bridge) should be merged automatically. Officers can always mark one.
    cross_enterprise_duplicates: bool = False
    # An officer's claim on a case lapses after this many minutes, and another officer may take it.
    claim_minutes: int = 30
