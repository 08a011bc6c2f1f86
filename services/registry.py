"""The services of the platform, by name: what `python -m services` runs together."""

from services.console import app as console
from services.insight import app as insight
from services.intake import app as intake
from services.rating import app as rating
from services.sla import app as sla
from services.sync import app as sync
from services.triage import app as triage
from shared.runtime import Builder

SERVICES: dict[str, Builder] = {
    intake.NAME: intake.build,
    triage.NAME: triage.build,
    sla.NAME: sla.build,
    rating.NAME: rating.build,
    sync.NAME: sync.build,
    insight.NAME: insight.build,
    console.NAME: console.build,
}
