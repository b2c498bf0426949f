"""What became of a change, in one spelling: the audit log and the device history (and the reports
counted from it) store these values, so a filter or a count written against one reads the other."""

from django.db import models


class Outcome(models.TextChoices):
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    UNKNOWN = "unknown", "Outcome unknown"
    NO_OP = "noop", "Nothing to change"
