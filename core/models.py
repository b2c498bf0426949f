from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone

from core.outcomes import Outcome


class AuditEventQuerySet(models.QuerySet):
    def for_target(self, target_type: str, target_id: str) -> "AuditEventQuerySet":
        return self.filter(target_type=target_type, target_id=target_id)


class AuditEvent(models.Model):
    """One change someone made through the portal, kept forever: append-only.

    ``actor_username`` is copied so the record still names the person after their account is gone.
    """

    Outcome = Outcome

    created_at = models.DateTimeField(default=timezone.now, db_index=True, editable=False)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_username = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=64, db_index=True)
    target_type = models.CharField(max_length=64, blank=True)
    target_id = models.CharField(max_length=128, blank=True)
    target_label = models.CharField(max_length=255, blank=True)
    outcome = models.CharField(max_length=16, choices=Outcome, default=Outcome.SUCCEEDED)
    details = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["target_type", "target_id", "-created_at"], name="audit_target_idx"),
            models.Index(fields=["actor", "-created_at"], name="audit_actor_idx"),
        ]

    def __str__(self) -> str:
        who = self.actor_username or "system"
        on = f" {self.target_label or self.target_id}" if (self.target_label or self.target_id) else ""
        return f"{who} {self.action}{on}: {self.get_outcome_display()}"

    def save(self, *args, **kwargs) -> None:
        if not self._state.adding:
            raise ValueError("Audit events are append-only and cannot be changed.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("Audit events are append-only and cannot be deleted.")


class Notice(models.Model):
    """A line for one person about something that ended while they were elsewhere ("Batch 123 ...
    finished"), shown at the top of every page they open until they dismiss it or open the page it
    links to. ``key`` names the event, so that telling it twice leaves one notice."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=100, help_text="The event told, e.g. batches.job.123.ended.")
    text = models.CharField(max_length=500)
    link = models.CharField(max_length=500, blank=True, help_text="A path in the portal.")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    seen_at = models.DateTimeField(
        null=True, blank=True, help_text="When it was dismissed, or its page opened: shown no more."
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="notice_user_key")]
        # Every page a signed-in person opens reads their unseen notices: this index holds only those
        # (a handful), however many seen ones pile up.
        indexes = [
            models.Index(
                fields=["user", "id"], name="notice_unseen_idx", condition=models.Q(seen_at__isnull=True)
            )
        ]

    def __str__(self) -> str:
        return self.text
