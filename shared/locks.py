"""One asyncio lock per key, forgotten when nobody holds or waits for it (a weak map)."""

import asyncio
from weakref import WeakValueDictionary


class KeyedLocks:
    """`async with locks(key):` serialises work on one key within this process; other keys run freely."""

    def __init__(self) -> None:
        self._locks: WeakValueDictionary[str, asyncio.Lock] = WeakValueDictionary()

    def __call__(self, key: str) -> asyncio.Lock:
        lock = self._locks.get(key)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[key] = lock
        return lock

    def __len__(self) -> int:
        return len(self._locks)
