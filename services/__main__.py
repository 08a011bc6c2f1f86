"""All services in one process behind one HTTP origin (the all-in-one run of `make run`)."""

from services.registry import SERVICES
from shared.runtime import run

run(SERVICES)
