"""Run the simulator alone: python -m services.sync.simulator [port] (city at /city, hotline at /hotline)."""

import sys

import uvicorn

from services.sync.settings import SyncSettings
from services.sync.simulator.app import build_simulator

settings = SyncSettings()
secrets = {settings.city_app_key: settings.city_app_secret.get_secret_value(),
           settings.hotline_app_key: settings.hotline_app_secret.get_secret_value()}
port = int(sys.argv[1]) if len(sys.argv) > 1 else 8090
uvicorn.run(build_simulator(secrets).asgi(), host="127.0.0.1", port=port, log_level="warning")
