"""The 12345 hotline's result callback (接诉即办): the county reports a ticket's result and rating.

POST /v1/tickets/{ticket_no}/results (signed like the city API, with an Idempotency-Key) and
POST /v1/receipts/query for reconciliation: the shape `RemoteClient` already speaks.
"""

from services.sync.remote import RemoteClient


class HotlineClient(RemoteClient):
    pass
