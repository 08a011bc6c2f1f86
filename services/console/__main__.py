from services.console.app import NAME, build
from shared.runtime import run

run({NAME: build})
