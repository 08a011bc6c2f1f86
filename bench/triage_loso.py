"""make bench-triage-loso: leave one folded set out, for choosing triage's weights without a fresh set.

Each independently written set folded into training (data/folded.jsonl, by `source`) is left out in turn: the
models are trained without it, and it is replayed through the service's decision code (bench/triage.py `replay`)
and scored. The mean over the sets estimates how a weight does on an author the models never saw. Duplicates
score lower here than on the blind sets: folded cases carry no contact phone. Confirm a weight chosen this way
once on the sets never read (`make bench-triage`).

    .venv/bin/python bench/triage_loso.py [--sets set_e,set_f] [--catalogue-share 0.25] [--rule-share 0.25]
"""

import argparse
import sys
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import triage as bench  # noqa: E402

from services.triage import classifier, domain  # noqa: E402

FIELDS = ("screening", "department", "region", "complexity", "duplicate_f1", "review_share")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", help="sources to leave out in turn, comma-separated (default: every one)")
    parser.add_argument("--catalogue-share", type=float, default=domain.CATALOGUE_SHARE)
    parser.add_argument("--rule-share", type=float, default=domain.RULE_SHARE)
    parser.add_argument("--overrule", type=float, default=domain.MODEL_OVERRULES_DERIVED)
    args = parser.parse_args()
    domain.CATALOGUE_SHARE, domain.RULE_SHARE = args.catalogue_share, args.rule_share
    domain.MODEL_OVERRULES_DERIVED = args.overrule
    folded = classifier.load_folded()
    by_source: dict[str, list[dict]] = defaultdict(list)
    for case in folded:
        by_source[case["source"]].append(case)
    names = args.sets.split(",") if args.sets else sorted(by_source)
    print(f"leave one set out: catalogue share {args.catalogue_share}, rule share {args.rule_share}, "
          f"classifier overrules the derived complexity from {args.overrule}")
    print(f"  {'left out':<12}" + "".join(f"{f:>14}" for f in FIELDS))
    rows = []
    for name in names:
        classifier.load_folded = lambda name=name: [c for c in folded if c["source"] != name]
        triage, vocabulary, _ = bench.build()
        cases = sorted(by_source[name], key=lambda c: c["received_at"])
        result = bench.replay(triage, vocabulary, cases, {c["id"] for c in cases})
        rows.append(result)
        print(f"  {name:<12}" + "".join(f"{result[f]:>14.3f}" for f in FIELDS), flush=True)
    print(f"  {'mean':<12}" + "".join(f"{sum(r[f] for r in rows) / len(rows):>14.3f}" for f in FIELDS))


if __name__ == "__main__":
    main()
