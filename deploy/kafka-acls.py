#!/usr/bin/env python3
"""Kafka principals of the platform: their SCRAM-SHA-512 credentials and ACLs, from one table (PRINCIPALS below),
and the platform's topics.

    deploy/kafka-acls.py [--bootstrap HOST:PORT] [--create-topics] [--credentials-file FILE] [--print-table]
    deploy/kafka-acls.py --revoke NAME [--revoke NAME ...]     # a principal no longer in the table

Run it with a principal the broker lets alter credentials and ACLs (a super user: `User:admin` over SASL, or the
broker's own loopback PLAINTEXT listener, as the local secured mode (deploy/kafka.sh) and docker-compose's
`kafka-init` do). It connects with the QHWY_KAFKA_* settings, like every client of the platform
(shared.messaging.kafka_client_options). It is idempotent and makes the broker match the table: every ACL of the
table is created, every other ACL of a principal of the table is deleted. A principal taken out of the table
keeps what it had until `--revoke` deletes its credential and every ACL it has.

Passwords come from QHWY_KAFKA_PASSWORD_<PRINCIPAL> (upper case, '-' as '_': QHWY_KAFKA_PASSWORD_CHANNEL_HOTLINE).
A principal without one gets no credential (it cannot sign in) unless --credentials-file is given: then one is
generated and kept in that file (mode 600) for the next run. Channel systems: QHWY_KAFKA_CHANNELS (comma separated,
default hotline,city,liaison,batch), each as `channel-<name>`. Topic names and consumer group prefixes follow
QHWY_TOPIC_NAMESPACE, as the services' own do.
"""

import argparse
import asyncio
import hashlib
import os
import secrets
import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the checkout's shared/ (the image has it installed)

from aiokafka.admin import AIOKafkaAdminClient  # noqa: E402
from aiokafka.protocol.admin import (  # noqa: E402
    CreateAclsRequest_v1,
    DeleteAclsRequest_v1,
    DescribeAclsRequest,
)
from aiokafka.protocol.api import Request, RequestStruct, Response  # noqa: E402
from aiokafka.protocol.types import (  # noqa: E402
    CompactArray,
    CompactBytes,
    CompactString,
    Int8,
    Int16,
    Int32,
    Schema,
    TaggedFields,
)

from shared.contracts import topics  # noqa: E402
from shared.messaging import ensure_topics, kafka_client_options  # noqa: E402
from shared.settings import Settings  # noqa: E402

SERVICES = ("intake", "triage", "sla", "rating", "sync", "insight", "console")
DEFAULT_CHANNELS = "hotline,city,liaison,batch"
ADMIN = "admin"  # a super user (the broker's super.users): no ACLs, creates topics, runs this script over SASL
DOWNSTREAM_GROUP_PREFIX = "downstream."


@dataclass(frozen=True)
class Principal:
    name: str
    kind: str  # service | channel | downstream | admin
    read: tuple[str, ...] = ()  # topics it consumes
    write: tuple[str, ...] = ()  # topics it produces to
    group_prefix: str | None = None  # consumer groups it may join: every group whose id starts with this


def principals(settings: Settings) -> list[Principal]:
    """THE table. Every service consumes the case events and may write them (each publishes its own event types
    there) and their dead-letter topic; intake also consumes the ingress topic (and dead-letters it), sync puts the
    city platform's cases onto the ingress topic, insight publishes its warnings. Channel systems only write the
    ingress topic; downstream county systems only read the case events."""
    t = settings.topic
    own_writes = {"intake": (t(topics.SUBMISSIONS_DLQ),), "sync": (t(topics.SUBMISSIONS),),
                  "insight": (t(topics.INSIGHT_EVENTS),)}
    table = []
    for name in SERVICES:
        reads = (t(topics.SUBMISSIONS), t(topics.CASE_EVENTS)) if name == "intake" else (t(topics.CASE_EVENTS),)
        writes = (t(topics.CASE_EVENTS), t(topics.CASE_EVENTS_DLQ), *own_writes.get(name, ()))
        table.append(Principal(name, "service", reads, writes, settings.group_id(name, "")))
    channels = [c.strip() for c in os.environ.get("QHWY_KAFKA_CHANNELS", DEFAULT_CHANNELS).split(",") if c.strip()]
    for channel in channels:
        table.append(Principal(f"channel-{channel}", "channel", write=(t(topics.SUBMISSIONS),)))
    table.append(Principal("downstream", "downstream", read=(t(topics.CASE_EVENTS),),
                           group_prefix=f"{settings.topic_namespace}.{DOWNSTREAM_GROUP_PREFIX}"
                           if settings.topic_namespace else DOWNSTREAM_GROUP_PREFIX))
    table.append(Principal(ADMIN, "admin"))
    return table


def markdown_table(table: list[Principal]) -> str:
    rows = ["| principal | kind | reads (topic) | writes (topic) | consumer groups (prefix) |",
            "|---|---|---|---|---|"]
    for p in table:
        cell = lambda items: ", ".join(f"`{i}`" for i in items) or "-"  # noqa: E731
        groups = f"`{p.group_prefix}*`" if p.group_prefix else "-"
        if p.kind == "admin":
            rows.append(f"| `{p.name}` | super user | all | all (creates topics, credentials, ACLs) | all |")
        else:
            rows.append(f"| `{p.name}` | {p.kind} | {cell(p.read)} | {cell(p.write)} | {groups} |")
    return "\n".join(rows)


# ---------------------------------------------------------------------------------------------- the Kafka protocol
# Codes of the Kafka protocol (org.apache.kafka.common.acl / resource).
TOPIC, GROUP = 2, 3
LITERAL, PREFIXED = 3, 4
ANY = 1
READ, WRITE = 3, 4
ALLOW = 3
SCRAM_SHA_512 = 2
SCRAM_ITERATIONS = 8192
RESOURCE_NOT_FOUND = 91  # no such credential to delete

Acl = tuple[int, str, int, str, str, int, int]  # resource type, name, pattern, principal, host, operation, permission


def acls_of(p: Principal) -> set[Acl]:
    user = f"User:{p.name}"
    wanted: set[Acl] = set()
    for topic in p.read:
        wanted.add((TOPIC, topic, LITERAL, user, "*", READ, ALLOW))  # READ implies DESCRIBE
    for topic in p.write:
        wanted.add((TOPIC, topic, LITERAL, user, "*", WRITE, ALLOW))  # WRITE implies DESCRIBE, idempotent produce
    if p.group_prefix:
        wanted.add((GROUP, p.group_prefix, PREFIXED, user, "*", READ, ALLOW))
    return wanted


class _CreateAcls(Request[CreateAclsRequest_v1]):
    """aiokafka's CreateAclsRequest carries one ACL; this one carries many."""

    API_KEY = 30

    def __init__(self, creations: list[Acl]):
        self.creations = creations

    def build(self, request_struct_class: type[CreateAclsRequest_v1]) -> CreateAclsRequest_v1:
        return request_struct_class(self.creations)


class _DeleteAcls(Request[DeleteAclsRequest_v1]):
    API_KEY = 31

    def __init__(self, filters: list[Acl]):
        self.filters = filters

    def build(self, request_struct_class: type[DeleteAclsRequest_v1]) -> DeleteAclsRequest_v1:
        return request_struct_class(self.filters)


class AlterUserScramCredentialsResponse_v0(Response):
    API_KEY = 51
    API_VERSION = 0
    SCHEMA = Schema(
        ("throttle_time_ms", Int32),
        ("results", CompactArray(("user", CompactString("utf-8")), ("error_code", Int16),
                                 ("error_message", CompactString("utf-8")), ("tags", TaggedFields))),
        ("tags", TaggedFields),
    )


class AlterUserScramCredentialsRequest_v0(RequestStruct):
    """KIP-554 (not in aiokafka): store a user's salted SCRAM password in the cluster metadata."""

    FLEXIBLE_VERSION = True
    API_KEY = 51
    API_VERSION = 0
    RESPONSE_TYPE = AlterUserScramCredentialsResponse_v0
    SCHEMA = Schema(
        ("deletions", CompactArray(("name", CompactString("utf-8")), ("mechanism", Int8), ("tags", TaggedFields))),
        ("upsertions", CompactArray(("name", CompactString("utf-8")), ("mechanism", Int8), ("iterations", Int32),
                                    ("salt", CompactBytes), ("salted_password", CompactBytes), ("tags", TaggedFields))),
        ("tags", TaggedFields),
    )


class _AlterScram(Request[AlterUserScramCredentialsRequest_v0]):
    API_KEY = 51

    def __init__(self, passwords: dict[str, str], deletions: tuple[str, ...] = ()):
        self.deletions = [(name, SCRAM_SHA_512, {}) for name in deletions]
        self.upsertions = []
        for name, password in sorted(passwords.items()):
            salt = secrets.token_bytes(32)
            salted = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, SCRAM_ITERATIONS)  # RFC 5802 Hi()
            self.upsertions.append((name, SCRAM_SHA_512, SCRAM_ITERATIONS, salt, salted, {}))

    def build(self, request_struct_class: type[AlterUserScramCredentialsRequest_v0]
              ) -> AlterUserScramCredentialsRequest_v0:
        return request_struct_class(self.deletions, self.upsertions, {})


class AdminError(RuntimeError):
    pass


# ---------------------------------------------------------------------------------------------- applying the table
def env_name(principal: str) -> str:
    return "QHWY_KAFKA_PASSWORD_" + principal.upper().replace("-", "_")


def passwords_for(table: list[Principal], credentials_file: Path | None) -> dict[str, str]:
    """Each principal's password from the environment; else from (or generated into) the credentials file."""
    kept: dict[str, str] = {}
    if credentials_file and credentials_file.exists():
        for line in credentials_file.read_text().splitlines():
            key, sep, value = line.partition("=")
            if sep and key.startswith("QHWY_KAFKA_PASSWORD_"):
                kept[key] = value
    found: dict[str, str] = {}
    changed = False
    for p in table:
        key = env_name(p.name)
        password = os.environ.get(key) or kept.get(key)
        if not password and credentials_file:
            password = kept[key] = secrets.token_urlsafe(24)
            changed = True
        if password:
            found[p.name] = password
    if changed and credentials_file:
        credentials_file.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(credentials_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write("".join(f"{k}={v}\n" for k, v in sorted(kept.items())))
    return found


async def apply(bootstrap: str, table: list[Principal], passwords: dict[str, str], settings: Settings,
                create_topics: bool) -> list[str]:
    """Make the broker match the table; returns what was done, one line each."""
    done: list[str] = []
    options = kafka_client_options(settings)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="qhwy-kafka-acls", **options)
    await admin.start()
    try:
        if passwords:
            response = await admin._send_request(_AlterScram(passwords))
            for user, code, message, _ in response.results:
                if code:
                    raise AdminError(f"SCRAM credential of {user}: error {code} {message}")
            done.append(f"SCRAM-SHA-512 credentials set: {', '.join(sorted(passwords))}")
        missing = sorted(p.name for p in table if p.name not in passwords)
        if missing:
            done.append(f"no password given (these cannot sign in): {', '.join(missing)}")

        wanted = set().union(*(acls_of(p) for p in table))
        response = await admin._send_request(_CreateAcls(sorted(wanted)))
        for code, message in response.creation_responses:
            if code:
                raise AdminError(f"creating ACLs: error {code} {message}")
        done.append(f"{len(wanted)} ACLs in place for {len(table)} principals")

        # ACLs of these principals that the table no longer has: deleted.
        stale = [acl for p in table for acl in await _acls_held(admin, p.name) if acl not in wanted]
        if stale:
            await _delete_acls(admin, stale)
            done.append(f"{len(stale)} ACLs not in the table deleted")
    finally:
        await admin.close()

    if create_topics:
        names = [settings.topic(name) for name in topics.ALL]
        await ensure_topics(bootstrap, names, settings.topic_partitions, options)
        done.append(f"topics present: {', '.join(names)}")
    return done


async def _acls_held(admin: AIOKafkaAdminClient, name: str) -> list[Acl]:
    response = await admin._send_request(DescribeAclsRequest(ANY, None, ANY, f"User:{name}", None, ANY, ANY))
    if response.error_code:
        raise AdminError(f"describing ACLs of {name}: error {response.error_code} {response.error_message}")
    return [(resource_type, resource, pattern, principal, host, operation, permission)
            for resource_type, resource, pattern, acls in response.resources
            for principal, host, operation, permission in acls]


async def _delete_acls(admin: AIOKafkaAdminClient, acls: list[Acl]) -> None:
    response = await admin._send_request(_DeleteAcls(acls))
    for code, message, _ in response.filter_responses:
        if code:
            raise AdminError(f"deleting ACLs: error {code} {message}")


async def revoke(bootstrap: str, names: list[str], settings: Settings) -> list[str]:
    """A principal's credential and every ACL it has, gone (a channel system retired, a leaked password)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="qhwy-kafka-acls",
                                **kafka_client_options(settings))
    await admin.start()
    done = []
    try:
        for name in names:
            held = await _acls_held(admin, name)
            if held:
                await _delete_acls(admin, held)
            response = await admin._send_request(_AlterScram({}, deletions=(name,)))
            codes = [code for _, code, _, _ in response.results]
            if any(code not in (0, RESOURCE_NOT_FOUND) for code in codes):
                raise AdminError(f"deleting the credential of {name}: errors {codes}")
            done.append(f"revoked {name}: {len(held)} ACLs and its credential deleted")
    finally:
        await admin.close()
    return done


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bootstrap", help="default: QHWY_KAFKA_BOOTSTRAP")
    parser.add_argument("--create-topics", action="store_true", help="also create the platform's topics")
    parser.add_argument("--credentials-file", type=Path,
                        help="generate missing passwords and keep them here (local secured mode)")
    parser.add_argument("--print-table", action="store_true", help="print the table (Markdown) and exit")
    parser.add_argument("--revoke", action="append", metavar="NAME",
                        help="delete this principal's credential and all its ACLs (instead of applying the table)")
    args = parser.parse_args(argv)
    settings = Settings()
    table = principals(settings)
    if args.print_table:
        print(markdown_table(table))
        return 0
    bootstrap = args.bootstrap or settings.kafka_bootstrap
    try:
        if args.revoke:
            done = asyncio.run(revoke(bootstrap, args.revoke, settings))
        else:
            passwords = passwords_for(table, args.credentials_file)
            done = asyncio.run(apply(bootstrap, table, passwords, settings, args.create_topics))
    except AdminError as exc:
        print(f"[kafka-acls] ERROR: {exc}", file=sys.stderr)
        return 1
    for line in done:
        print(f"[kafka-acls] {line}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
