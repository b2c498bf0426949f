"""The audit log's writer: every app records the changes people make through ``audit_record``."""

from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import models

from core.models import AuditEvent
from core.outcomes import Outcome
from core.tracing import current_request_id


def audit_record(
    *,
    actor: AbstractBaseUser | AnonymousUser | None,
    action: str,
    target: models.Model | None = None,
    target_type: str = "",
    target_id: str = "",
    target_label: str = "",
    outcome: Outcome = Outcome.SUCCEEDED,
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Record one change in the audit log.

    ``actor`` is the person (None or anonymous for the system: sync, beat). ``target`` is the model
    instance acted on; ``target_type``/``target_id`` name a target that has no row (a device only
    known to the API, say). The current request id (``core.tracing``), when there is one, goes into
    the details, so that the row leads to the log lines of the same click.
    """
    details = dict(details or {})
    if (request_id := current_request_id()) is not None:
        details.setdefault("request_id", request_id)
    if target is not None:
        target_type = target_type or target._meta.label_lower
        target_id = target_id or str(target.pk)
        target_label = target_label or str(target)
    person = actor if actor is not None and actor.is_authenticated else None
    return AuditEvent.objects.create(
        actor=person,
        actor_username=person.get_username() if person else "",
        action=action,
        target_type=target_type,
        target_id=target_id,
        target_label=target_label[:255],
        outcome=outcome,
        details=details,
    )
