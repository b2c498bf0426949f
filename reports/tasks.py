from celery import shared_task

from reports.services import fleet_counts_take, weekly_summaries_send


@shared_task(ignore_result=True)
def weekly_summaries_send_task() -> int:
    """Beat's Monday task: last week's summary to the managers who opted in (safe to run twice)."""
    return weekly_summaries_send()


@shared_task(ignore_result=True)
def fleet_counts_take_task() -> int:
    """Beat's every few minutes: the devices per customer the report shows as "now"."""
    return fleet_counts_take()
