from celery import shared_task
from django.utils import timezone


@shared_task(ignore_result=False)
def heartbeat_task() -> str:
    """Prove the worker is alive and reads the broker; beat sends one every few minutes."""
    return timezone.now().isoformat()
