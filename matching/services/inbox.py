"""The in-app inbox (站内信): marking a notification read."""

from __future__ import annotations

from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from matching.models import Notification
from timebank.errors import NotFound
from timebank.people.models import Member


def notification_mark_read(*, member: Member, notification_id: int) -> None:
    """Idempotent; another member's notification is 404, so ids do not leak."""
    mine = Notification.objects.filter(pk=notification_id, member=member)
    if not mine.exists():
        raise NotFound(_("找不到该通知"), code="notification_not_found")
    mine.filter(read_at__isnull=True).update(read_at=timezone.now())
