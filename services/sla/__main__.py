from services.sla.app import NAME, build
from shared.runtime import run

run({NAME: build})
