"""The batch methods of the client: long-running operations (``claimAsync``, ``unclaimAsync``,
``updateMetadataAsync``) and ``operations.get``, which reads how one is getting on.

A batch is submitted once and polled until ``Operation.done``; ``Operation.next_poll_in()`` says when
to ask again. Submissions are SUBMIT calls (see ``zerotouch.retry``): a duplicate would run the batch
twice, so a failure after the request may have reached the server is ``OutcomeUnknown``, save a 503,
taken as a refusal and sent again.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from .ratelimit import Priority
from .resources import MetadataUpdate, Operation, PartnerClaim, PartnerUnclaim
from .retry import Safety

if TYPE_CHECKING:
    from .transport import Transport

__all__ = ["MAX_BATCH_SIZE", "OperationMethods"]

#: Items per claimAsync/unclaimAsync/updateMetadataAsync request, per Google's reseller documentation.
MAX_BATCH_SIZE = 100_000


def _batch(items: Sequence[Any], kind: type, name: str) -> list[Any]:
    items = list(items)
    if not 1 <= len(items) <= MAX_BATCH_SIZE:
        raise ValueError(f"{name} must hold between 1 and {MAX_BATCH_SIZE:,} items, not {len(items):,}.")
    for item in items:
        if not isinstance(item, kind):
            raise TypeError(f"{name} must hold {kind.__name__} items, not {type(item).__name__}.")
    return items


class OperationMethods:
    """The methods of ``zerotouch.Client`` for batches (the client provides ``_transport`` and
    ``_partner``, the partner's resource path)."""

    _transport: Transport
    _partner: str

    def devices_claim_async(
        self,
        *,
        claims: Sequence[PartnerClaim],
        deadline: float | None = None,
        priority: Priority | None = None,
    ) -> Operation:
        """Submit a batch of claims (``partners.devices.claimAsync``); poll the returned operation with
        ``operations_get``. Up to 100,000 items; results come back per item, in request order.

        Retry rule: SUBMIT. Every accepted request starts a new operation, and a duplicate would run
        the batch twice under a name the caller never learns. Repeated only when the request never
        reached the server or was refused with 429 or 503; otherwise ``OutcomeUnknown``: read the
        devices' claims before submitting again.
        """
        return self._submit(
            "claimAsync", "claims", claims, PartnerClaim, deadline=deadline, priority=priority
        )

    def devices_unclaim_async(
        self,
        *,
        unclaims: Sequence[PartnerUnclaim],
        deadline: float | None = None,
        priority: Priority | None = None,
    ) -> Operation:
        """Submit a batch of unclaims (``partners.devices.unclaimAsync``). Up to 100,000 items.

        Retry rule: SUBMIT, as for ``devices_claim_async`` (a duplicate batch could also undo a claim
        made in between).
        """
        return self._submit(
            "unclaimAsync", "unclaims", unclaims, PartnerUnclaim, deadline=deadline, priority=priority
        )

    def devices_update_metadata_async(
        self,
        *,
        updates: Sequence[MetadataUpdate],
        deadline: float | None = None,
        priority: Priority | None = None,
    ) -> Operation:
        """Submit a batch of metadata updates (``partners.devices.updateMetadataAsync``). Up to
        100,000 items. Android devices only.

        Retry rule: SUBMIT, as for ``devices_claim_async``.
        """
        return self._submit(
            "updateMetadataAsync", "updates", updates, MetadataUpdate, deadline=deadline, priority=priority
        )

    def _submit(
        self,
        action: str,
        field: str,
        items: Sequence[Any],
        kind: type,
        *,
        deadline: float | None,
        priority: Priority | None,
    ) -> Operation:
        """POST ``devices:{action}`` with ``items`` (1 to 100,000, each a ``kind``) as the JSON list
        ``field``: a SUBMIT call (``zerotouch.retry``)."""
        batch = _batch(items, kind, field)
        payload = self._transport.request(
            f"partners.devices.{action}",
            "POST",
            f"{self._partner}/devices:{action}",
            safety=Safety.SUBMIT,
            body={field: [item.to_json() for item in batch]},
            deadline=deadline,
            priority=priority,
        )
        return Operation.from_json(payload)

    def operations_get(
        self, *, name: str, deadline: float | None = None, priority: Priority | None = None
    ) -> Operation:
        """The latest state of a batch operation (``operations.get``), by the name that the
        submission returned (``operations/...``). Retry rule: READ."""
        if not name:
            raise ValueError("The operation name must not be empty.")
        if not name.startswith("operations/"):
            name = f"operations/{name}"
        payload = self._transport.request(
            "operations.get",
            "GET",
            f"/v1/{quote(name, safe='/')}",
            safety=Safety.READ,
            deadline=deadline,
            priority=priority,
        )
        return Operation.from_json(payload)
