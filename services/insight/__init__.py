"""insight: 服务企业评价 (figures per unit, region, liaison officer and period), 晾晒 rankings, reports for
county leadership, and 举一反三 (common problem groups, early warnings, case library, long-term mechanisms)."""
