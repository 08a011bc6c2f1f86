"""Backup and restore of the platform's stores (make backup / make restore; docs/operations.md "Backup and restore").

The stores are the platform's source of truth: intake's store alone holds the enterprises' full contacts (every
event carries them masked) and the broker keeps its topics for a limited time (Kafka's default retention, 7 days),
so a backup is every `<prefix>_*` database: each collection as JSON lines in MongoDB Extended JSON (bson.json_util,
canonical: types survive the round trip), its indexes, and a manifest with the document counts. Plain PyMongo,
so it works against MongoDB and FerretDB alike without mongodump.

    python -m shared.backup backup [--out DIR] [--prefix qhwy]
    python -m shared.backup restore DIR [--prefix NEW] [--drop]

A restore writes into empty databases only (or drops them first with --drop), under the backup's prefix or a new
one, and checks every collection's count against the manifest.
"""

import argparse
import json
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bson import json_util
from bson.json_util import JSONOptions
from pymongo import MongoClient

FORMAT = "qhwy-backup/1"
JSON_OPTIONS: JSONOptions = json_util.CANONICAL_JSON_OPTIONS
BATCH = 500


def _client(url: str) -> MongoClient[dict[str, Any]]:
    return MongoClient(url, directConnection=True, tz_aware=True, serverSelectionTimeoutMS=10_000)


# The services that keep a store (`<prefix>_<service>`); tests/unit/test_backup_names.py keeps it equal to
# services/registry.py. Named, not listed from the server: FerretDB's listDatabases grows slow with many databases
# (minutes with a thousand, as a test machine accumulates).
SERVICE_DATABASES = ("intake", "triage", "sla", "rating", "sync", "insight", "console")


def databases(client: MongoClient[dict[str, Any]], prefix: str) -> list[str]:
    """The platform's databases under `prefix` (`<prefix>_<service>`) that hold anything."""
    return sorted(name for name in (f"{prefix}_{service}" for service in SERVICE_DATABASES)
                  if client[name].list_collection_names())


def _index_specs(collection: Any) -> list[dict[str, Any]]:
    specs = []
    for name, info in collection.index_information().items():
        if name == "_id_":
            continue
        spec = {"name": name, "keys": [[field, direction] for field, direction in info["key"]]}
        for option in ("unique", "sparse", "expireAfterSeconds"):
            if option in info:
                spec[option] = info[option]
        specs.append(spec)
    return specs


def backup(url: str, prefix: str, out: Path) -> dict[str, Any]:
    """Dump every `<prefix>_*` database into `out` (created; must not hold a backup already)."""
    out.mkdir(parents=True, exist_ok=True)
    if (out / "manifest.json").exists():
        raise SystemExit(f"{out} already holds a backup")
    manifest: dict[str, Any] = {"format": FORMAT, "created_at": datetime.now(UTC).isoformat(), "prefix": prefix,
                                "databases": {}}
    with _client(url) as client:
        for db_name in databases(client, prefix):
            db = client[db_name]
            service = db_name[len(prefix) + 1:]
            entry: dict[str, Any] = {"collections": {}}
            (out / service).mkdir(exist_ok=True)
            for coll_name in sorted(db.list_collection_names()):
                coll = db[coll_name]
                count = 0
                with (out / service / f"{coll_name}.jsonl").open("w", encoding="utf-8") as f:
                    for doc in coll.find({}, sort=[("_id", 1)]):
                        f.write(json_util.dumps(doc, json_options=JSON_OPTIONS, ensure_ascii=False) + "\n")
                        count += 1
                entry["collections"][coll_name] = {"documents": count, "indexes": _index_specs(coll)}
            manifest["databases"][service] = entry
    (out / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return manifest


def _documents(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield json_util.loads(line, json_options=JSON_OPTIONS)


def restore(url: str, source: Path, prefix: str | None = None, drop: bool = False) -> dict[str, Any]:
    """Load a backup into `<prefix>_<service>` databases (default: the backup's own prefix)."""
    manifest = json.loads((source / "manifest.json").read_text(encoding="utf-8"))
    if manifest.get("format") != FORMAT:
        raise SystemExit(f"{source}: not a {FORMAT} backup")
    prefix = prefix or manifest["prefix"]
    restored: dict[str, Any] = {"prefix": prefix, "databases": {}}
    with _client(url) as client:
        targets = {service: f"{prefix}_{service}" for service in manifest["databases"]}
        busy = [name for name in targets.values() if client[name].list_collection_names()]
        if busy and not drop:
            raise SystemExit(f"not empty: {', '.join(busy)} (restore into another --prefix, or --drop them first)")
        for service, entry in manifest["databases"].items():
            if drop:
                client.drop_database(targets[service])
            db = client[targets[service]]
            counts = {}
            for coll_name, info in entry["collections"].items():
                coll = db[coll_name]
                batch: list[dict[str, Any]] = []
                for doc in _documents(source / service / f"{coll_name}.jsonl"):
                    batch.append(doc)
                    if len(batch) >= BATCH:
                        coll.insert_many(batch, ordered=True)
                        batch = []
                if batch:
                    coll.insert_many(batch, ordered=True)
                if info["documents"] == 0 and coll_name not in db.list_collection_names():
                    db.create_collection(coll_name)
                for spec in info["indexes"]:
                    options = {k: spec[k] for k in ("unique", "sparse", "expireAfterSeconds") if k in spec}
                    coll.create_index([(field, direction) for field, direction in spec["keys"]], name=spec["name"],
                                      **options)
                counts[coll_name] = coll.count_documents({})
                if counts[coll_name] != info["documents"]:
                    raise SystemExit(f"{targets[service]}.{coll_name}: {counts[coll_name]} documents restored, "
                                     f"the backup holds {info['documents']}")
            restored["databases"][service] = counts
    return restored


def main(argv: list[str] | None = None) -> int:
    from shared.settings import Settings

    settings = Settings()
    parser = argparse.ArgumentParser(prog="python -m shared.backup", description=__doc__.split("\n\n")[0])
    parser.add_argument("--mongo-url", default=settings.mongo_url, help="default: QHWY_MONGO_URL")
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("backup", help="dump every <prefix>_* database to JSON lines")
    b.add_argument("--prefix", default=settings.db_prefix, help="database prefix (default: QHWY_DB_PREFIX)")
    b.add_argument("--out", type=Path, default=None, help="directory (default: backups/<UTC time>)")
    r = sub.add_parser("restore", help="load a backup into empty databases")
    r.add_argument("source", type=Path)
    r.add_argument("--prefix", default=None, help="restore under this prefix (default: the backup's)")
    r.add_argument("--drop", action="store_true", help="drop the target databases first")
    args = parser.parse_args(argv)
    if args.command == "backup":
        out = args.out or Path("backups") / datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        manifest = backup(args.mongo_url, args.prefix, out)
        total = sum(c["documents"] for d in manifest["databases"].values() for c in d["collections"].values())
        print(f"backup: {len(manifest['databases'])} databases, {total} documents -> {out}")
    else:
        done = restore(args.mongo_url, args.source, args.prefix, args.drop)
        total = sum(sum(d.values()) for d in done["databases"].values())
        print(f"restore: {len(done['databases'])} databases, {total} documents under prefix {done['prefix']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
