"""The city platform's API (docs/city-api.openapi.yaml) as the county calls it."""

from datetime import datetime
from typing import Any

from services.sync.city_api import Assignment, CityMessage
from services.sync.remote import RemoteClient


class CityClient(RemoteClient):
    async def _feed(self, path: str, after: int, limit: int,
                    since: datetime | None) -> tuple[list[dict[str, Any]], int | None]:
        query = f"{path}?after={after}&limit={limit}"
        if since is not None:
            query += f"&since={since.isoformat().replace('+', '%2B')}"
        answer = await self.request("GET", query)
        return answer["items"], answer.get("next_after")

    async def assignments(self, after: int, limit: int = 100,
                          since: datetime | None = None) -> tuple[list[Assignment], int | None]:
        """Cases the city assigns to the county, in feed order (seq) after `after`."""
        items, next_after = await self._feed("/v1/assignments", after, limit, since)
        return [Assignment.model_validate(i) for i in items], next_after

    async def messages(self, after: int, limit: int = 100,
                       since: datetime | None = None) -> tuple[list[CityMessage], int | None]:
        """The city's replies and decisions on the county's cases, in feed order (seq) after `after`."""
        items, next_after = await self._feed("/v1/messages", after, limit, since)
        return [CityMessage.model_validate(i) for i in items], next_after
