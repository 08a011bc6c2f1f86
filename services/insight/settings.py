"""insight's own settings (QHWY_INSIGHT_* environment variables)."""

from pydantic import BaseModel
from pydantic_settings import BaseSettings, SettingsConfigDict


class RankingRule(BaseModel):
    """One 晾晒 rule: which entries of a dimension go on the positive (红榜) or negative (黑榜) list.

    kind "metric": groups of `dimension` whose `metric` satisfies `op threshold` (with at least `min_cases`
    behind it), ordered by the metric, at most `top` of them.
    kind "most": the `top` groups of `dimension` with the largest `metric` count (e.g. officers with most solved).
    kind "overdue_cases": cases whose deadline passed more than `days` days ago (still open, or resolved that late).
    """

    code: str
    name: str
    polarity: str  # positive | negative
    kind: str = "metric"  # metric | most | overdue_cases
    dimension: str = "unit"  # unit | region | liaison | handler
    metric: str = "satisfaction_rate"
    op: str = "lt"  # lt | le | gt | ge
    threshold: float = 0.0
    min_cases: int = 1
    top: int = 10
    days: float = 0.0


DEFAULT_RULES = [
    RankingRule(code="low_satisfaction", name="满意率低于98%的单位", polarity="negative", metric="satisfaction_rate",
                op="lt", threshold=0.98, min_cases=1),
    RankingRule(code="low_on_time", name="按期办结率低于90%的单位", polarity="negative", metric="on_time_rate",
                op="lt", threshold=0.90, min_cases=1),
    RankingRule(code="overdue_long", name="超期3天以上的问题", polarity="negative", kind="overdue_cases", days=3),
    RankingRule(code="most_solved", name="办结问题最多的经办人", polarity="positive", kind="most",
                dimension="handler", metric="resolved", top=10),
    RankingRule(code="full_satisfaction", name="满意率100%的单位", polarity="positive", metric="satisfaction_rate",
                op="ge", threshold=1.0, min_cases=3),
]


class InsightSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="QHWY_INSIGHT_", frozen=True)

    # 晾晒 rules (JSON list of RankingRule in the environment).
    ranking_rules: list[RankingRule] = DEFAULT_RULES
    # 举一反三: how often problem groups are recomputed, over how many days of cases, how alike two cases must be.
    group_interval_seconds: float = 600.0
    group_window_days: int = 180
    group_max_cases: int = 20_000
    group_similarity: float = 0.35
    # Early warning: a theme's cases in a scope within the last `warning_window_days` against its average over
    # the `warning_baseline_windows` windows before; fires at >= warning_min_count and ratio >= warning_ratio.
    warning_window_days: int = 7
    warning_baseline_windows: int = 4
    warning_min_count: int = 3
    warning_ratio: float = 2.0
    warning_baseline_floor: float = 1.0
    # Reports: how often the scheduler looks for a missing weekly / monthly report (of the last complete period).
    report_check_interval_seconds: float = 3600.0
    report_trend_periods: int = 8
    # intake's liaison officer registry (names for the 助企联络员 ranking). Unset: the all-in-one origin
    # (http://127.0.0.1:{QHWY_HTTP_PORT}/api/v1/liaison/officers).
    officers_url: str | None = None
    officers_timeout_seconds: float = 5.0
    # A font file with CJK glyphs (TrueType .ttf/.ttc); empty: the first one found among the usual places.
    font_file: str = ""
