"""insight: evaluation, rankings, reports and 举一反三 from the case-events topic.

    python -m services.insight           run the service
    python -m services.insight rebuild   rebuild the facts from the topic's first offset (see rebuild.py)
"""
import sys

if len(sys.argv) > 1 and sys.argv[1] == "rebuild":
    from services.insight.rebuild import main

    sys.exit(main(sys.argv[2:]))

from services.insight.app import NAME, build  # noqa: E402
from shared.runtime import run  # noqa: E402

run({NAME: build})
