"""shared/store.py ReadBatcher (used on MongoDB, where `$in` is an index lookup): reads asked for together are one
query; each caller gets its own copy; a failed query fails every waiting read."""

import asyncio
from typing import Any

from shared.store import ReadBatcher


class Collection:
    """The one method ReadBatcher uses, answering from a dict and recording each query."""

    def __init__(self, docs: dict[str, dict[str, Any]], fail: bool = False):
        self.docs, self.fail, self.queries = docs, fail, []

    def find(self, query: dict[str, Any]) -> Any:
        self.queries.append(query)
        wanted = query["_id"]["$in"] if isinstance(query["_id"], dict) else [query["_id"]]
        docs, fail = [self.docs[k] for k in wanted if k in self.docs], self.fail

        async def cursor() -> Any:
            if fail:
                raise ConnectionError("store down")
            for doc in docs:
                yield doc
        return cursor()


def test_reads_asked_together_are_one_query_and_each_caller_gets_its_own_copy() -> None:
    collection = Collection({"a": {"_id": "a", "n": 1}, "b": {"_id": "b", "n": 2}})
    batcher = ReadBatcher(collection)  # type: ignore[arg-type]

    async def main() -> list[Any]:
        return await asyncio.gather(batcher.get("a"), batcher.get("b"), batcher.get("a"), batcher.get("zz"))

    a1, b, a2, missing = asyncio.run(main())
    assert collection.queries == [{"_id": {"$in": ["a", "b", "zz"]}}]
    assert a1 == a2 == {"_id": "a", "n": 1} and a1 is not a2 and b["n"] == 2 and missing is None


def test_a_failed_query_fails_every_read_waiting_for_it() -> None:
    batcher = ReadBatcher(Collection({}, fail=True))  # type: ignore[arg-type]

    async def main() -> list[Any]:
        return await asyncio.gather(batcher.get("a"), batcher.get("b"), return_exceptions=True)

    assert [type(r) for r in asyncio.run(main())] == [ConnectionError, ConnectionError]


def test_large_batches_are_split() -> None:
    collection = Collection({})
    batcher = ReadBatcher(collection, most=2)  # type: ignore[arg-type]

    async def main() -> None:
        await asyncio.gather(*(batcher.get(k) for k in "abcde"))

    asyncio.run(main())
    assert [q["_id"] for q in collection.queries] == [{"$in": ["a", "b"]}, {"$in": ["c", "d"]}, "e"]
