"""Background work for spaces, through Django's Tasks API. Each task is
scheduled for the exact moment it matters (not a cron sweep) and enqueued
on commit; reads treat lapsed reservations as free meanwhile, so nothing
depends on the worker being on time."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone
from django_tasks import task


@task()
def reservation_lapse_task(reservation_id: int) -> str:
    """At a hold's expiry, or 15 min after an unchecked booking's start:
    release it if nothing happened first, then offer it to the waitlist."""
    from resources.lifecycle import reservation_lapse
    from resources.models import Reservation

    if not Reservation.objects.filter(pk=reservation_id).exists():
        return "gone"
    with transaction.atomic(durable=True):
        return reservation_lapse(reservation_id=reservation_id, now=timezone.now())


@task()
def allocation_round_task(round_id: int) -> str:
    """Allocate a weekly release at its cutoff."""
    from resources.allocation import round_allocate

    result = round_allocate(round_id=round_id, actor=None)
    return str(result.status)
