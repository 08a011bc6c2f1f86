"""docker-compose.yml is a production deployment: every service in production mode with its own Kafka principal,
no secret with a default, pinned images, a broker that authenticates and authorises, metrics never public."""

import re
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
# the platform's own services: the containers that run `python -m services.<name>`
PLATFORM = {name: spec for name, spec in SERVICES.items()
            if spec.get("command", [])[:3] == ["python", "-m", f"services.{name}"]}
REQUIRED = re.compile(r"^\$\{(?P<var>[A-Z0-9_]+):\?[^}]+\}$")  # ${VAR:?message}: compose refuses to start without it
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|_KEY$")


def env(service: str) -> dict[str, str]:
    return {k: str(v) for k, v in (SERVICES[service].get("environment") or {}).items()}


def versions() -> dict[str, str]:
    pairs = (line.split("=", 1) for line in (REPO / "deploy/versions.env").read_text().splitlines()
             if "=" in line and not line.startswith("#"))
    return {k.strip(): v.strip() for k, v in pairs}


def test_every_platform_service_is_there() -> None:
    assert set(PLATFORM) == {"intake", "triage", "sla", "rating", "sync", "insight", "console"}


@pytest.mark.parametrize("service", sorted(PLATFORM))
def test_service_runs_in_production_mode_with_its_own_kafka_principal(service: str) -> None:
    e = env(service)
    assert e["QHWY_ENV"] == "production"
    assert e["QHWY_KAFKA_BOOTSTRAP"] == "kafka:9092"
    assert e["QHWY_KAFKA_SECURITY_PROTOCOL"] in ("SASL_PLAINTEXT", "SASL_SSL")
    assert e["QHWY_KAFKA_SASL_MECHANISM"] == "SCRAM-SHA-512"
    assert e["QHWY_KAFKA_USERNAME"] == service
    password = REQUIRED.match(e["QHWY_KAFKA_PASSWORD"])
    assert password and password["var"] == f"QHWY_KAFKA_PASSWORD_{service.upper()}"
    assert REQUIRED.match(e["QHWY_JWT_SECRET"])
    # the broker's principals exist before the service starts
    assert SERVICES[service]["depends_on"]["kafka-init"]["condition"] == "service_completed_successfully"


def test_intake_requires_the_hotline_token_and_grafana_its_password() -> None:
    assert REQUIRED.match(env("intake")["QHWY_INTAKE_HOTLINE_TOKEN"])
    assert REQUIRED.match(env("grafana")["GF_SECURITY_ADMIN_PASSWORD"])


def test_no_secret_has_a_default() -> None:
    """Every secret comes from the operator's environment: required, or empty (channel and downstream principals
    without a password cannot sign in). Never a value written here, never `${VAR:-something}`."""
    checked = 0
    for name in SERVICES:
        for key, value in env(name).items():
            if SECRET_NAME.search(key):
                checked += 1
                assert REQUIRED.match(value) or re.fullmatch(r"\$\{[A-Z0-9_]+:-\}", value), (name, key, value)
    assert checked >= 20
    text = (REPO / "docker-compose.yml").read_text()
    for var in re.findall(r"\$\{([A-Z0-9_]*(?:PASSWORD|SECRET|TOKEN)[A-Z0-9_]*):-[^}]", text):
        pytest.fail(f"{var} has a default value")


def test_kafka_init_gives_every_service_principal_a_required_password() -> None:
    e = env("kafka-init")
    for service in [*PLATFORM, "admin"]:
        assert REQUIRED.match(e[f"QHWY_KAFKA_PASSWORD_{service.upper()}"]), service
    assert SERVICES["kafka-init"]["network_mode"] == "service:kafka"  # reaches the loopback-only listener
    command = SERVICES["kafka-init"]["command"]
    assert command[:2] == ["python", "/app/deploy/kafka-acls.py"] and "--create-topics" in command


def test_images_are_pinned() -> None:
    images = {name: spec["image"] for name, spec in SERVICES.items() if "image" in spec}
    for name, image in images.items():
        _, _, tag = image.rpartition(":")
        assert re.match(r"^v?\d+\.\d+\.\d+", tag), f"{name}: {image} is not pinned to an exact version"
    assert images["kafka"] == f"apache/kafka:{versions()['KAFKA_VERSION']}" == "apache/kafka:3.9.1"
    assert re.fullmatch(r"mongo:7\.0\.\d+", images["mongo"])
    assert re.fullmatch(r"nginx:1\.27\.\d+-alpine", images["front"])
    built = [name for name, spec in SERVICES.items() if "image" not in spec]
    assert all(SERVICES[name]["build"] == "." for name in built)


def test_kafka_authenticates_and_authorises() -> None:
    e = env("kafka")
    protocols = dict(item.split(":") for item in e["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(","))
    listeners = {item.split("://")[0]: item.split("://")[1] for item in e["KAFKA_LISTENERS"].split(",")}
    advertised = {item.split("://")[0] for item in e["KAFKA_ADVERTISED_LISTENERS"].split(",")}
    for name, address in listeners.items():
        if protocols[name] == "PLAINTEXT":  # User:ANONYMOUS (a super user): loopback only
            assert address.startswith("127.0.0.1:"), (name, address)
        else:
            assert protocols[name] == "SASL_PLAINTEXT"
    assert protocols[next(n for n in advertised if listeners[n].endswith(":9092"))] == "SASL_PLAINTEXT"
    assert e["KAFKA_SASL_ENABLED_MECHANISMS"] == "SCRAM-SHA-512"
    assert e["KAFKA_AUTHORIZER_CLASS_NAME"] == "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
    assert e["KAFKA_ALLOW_EVERYONE_IF_NO_ACL_FOUND"] == "false"
    assert "User:admin" in e["KAFKA_SUPER_USERS"].split(";")
    assert e["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    assert "java.security.auth.login.config=/etc/kafka/qhwy/kafka_server_jaas.conf" in e["KAFKA_OPTS"]
    jaas = "./deploy/kafka/kafka_server_jaas.conf:/etc/kafka/qhwy/kafka_server_jaas.conf:ro"
    assert jaas in SERVICES["kafka"]["volumes"]


# ------------------------------------------------------------------------------------------------ nginx
def locations(conf: str) -> list[tuple[str, str, str]]:
    """(modifier, pattern, body) of every location block (bodies here hold no nested blocks; braces only inside
    quoted strings)."""
    return [(m[1] or "", m[2], m[3]) for m in
            re.finditer(r"location\s+(=|~\*|~|\^~)?\s*(\S+)\s*\{((?:[^{}'\"]|'[^']*'|\"[^\"]*\")*)\}", conf)]


def route(conf: str, uri: str) -> str:
    """The body of the location nginx picks for `uri` (its documented order: exact, longest prefix unless ^~,
    regexes in order, else the longest prefix)."""
    blocks = locations(conf)
    for mod, pattern, body in blocks:
        if mod == "=" and uri == pattern:
            return body
    prefixes = [(p, mod, body) for mod, p, body in blocks if mod in ("", "^~") and uri.startswith(p)]
    longest = max(prefixes, key=lambda item: len(item[0]), default=None)
    if longest and longest[1] == "^~":
        return longest[2]
    for mod, pattern, body in blocks:
        if mod in ("~", "~*") and re.search(pattern, uri, re.IGNORECASE if mod == "~*" else 0):
            return body
    assert longest, f"no location for {uri}"
    return longest[2]


NGINX = (REPO / "deploy/nginx/nginx.conf").read_text()


@pytest.mark.parametrize("uri", ["/metrics", "/metrics/", "/METRICS", "/api/v1/cases/metrics", "/console/metrics",
                                 "/api/v1/insight/metrics", "/e/metrics", "/open311/metrics"])
def test_the_front_never_serves_metrics(uri: str) -> None:
    body = route(NGINX, uri)
    assert "return 404" in body and "proxy_pass" not in body, uri


@pytest.mark.parametrize("uri", ["/api/v1/submissions", "/api/v1/cases/abc", "/console", "/e/track"])
def test_the_front_still_routes_the_api(uri: str) -> None:
    assert "proxy_pass" in route(NGINX, uri)


def test_prometheus_scrapes_every_service_directly() -> None:
    config = yaml.safe_load((REPO / "deploy/prometheus/prometheus.yml").read_text())
    targets = {t for job in config["scrape_configs"] for group in job["static_configs"] for t in group["targets"]}
    assert {f"{name}:8000" for name in PLATFORM} <= targets
    assert all(job.get("metrics_path", "/metrics") == "/metrics" for job in config["scrape_configs"])
    assert "front:80" not in targets and not any(t.startswith("front") for t in targets)
    for port in SERVICES["prometheus"]["ports"] + SERVICES["grafana"]["ports"]:
        assert port.startswith("${QHWY_MONITORING_BIND:-127.0.0.1}:"), port  # not on a public address by default
