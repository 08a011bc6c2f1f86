from services.rating.app import NAME, build
from shared.runtime import run

run({NAME: build})
