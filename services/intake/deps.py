"""What intake's handlers, routes and jobs share: one instance per process, made by app.build()."""

from dataclasses import dataclass
from zoneinfo import ZoneInfo

from services.intake.settings import IntakeSettings
from services.intake.store import IntakeStore
from services.intake.tracking import EnterpriseAccess
from shared.org import Organisation
from shared.runtime import ServiceContext

NAME = "intake"


@dataclass(frozen=True, repr=False)  # repr=False: nothing logs every dependency by accident
class Deps:
    ctx: ServiceContext
    settings: IntakeSettings  # intake's own (QHWY_INTAKE_*); the platform's are ctx.settings
    store: IntakeStore
    proofs: EnterpriseAccess  # the enterprise's proofs, their guessing budget, one-time codes, signed links

    @property
    def org(self) -> Organisation:
        return self.ctx.org

    @property
    def tz(self) -> ZoneInfo:
        return self.ctx.settings.tz
