from services.intake.app import NAME, build
from shared.runtime import run

run({NAME: build})
