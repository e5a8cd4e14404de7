"""Core rows shared by every app: the event outbox and idempotency records."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Event(models.Model):
    """An outbox row (事件): written in the caller's transaction, published after commit.

    Ids are allocated in commit order (see `timebank.events.record`), so a
    client that has seen id N has seen every earlier event of its groups.
    """

    id = models.BigAutoField(primary_key=True)
    type = models.CharField(max_length=64)
    data = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "事件"
        verbose_name_plural = "事件"

    def __str__(self) -> str:
        return f"#{self.id} {self.type}"


class EventRecipient(models.Model):
    """One group that an event is addressed to."""

    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="recipients")
    group = models.CharField(max_length=64)

    class Meta:
        verbose_name = "事件接收组"
        verbose_name_plural = "事件接收组"
        indexes = [models.Index(fields=["group", "event"], name="event_group_idx")]
        constraints = [
            models.UniqueConstraint(fields=["event", "group"], name="event_group_unique")
        ]

    def __str__(self) -> str:
        return f"{self.group} ← #{self.event_id}"


class IdempotencyRecord(models.Model):
    """The first result of a write sent with an `Idempotency-Key` header."""

    member = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    scope = models.CharField(max_length=128)
    key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64)
    status = models.PositiveSmallIntegerField()
    body = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "幂等记录"
        verbose_name_plural = "幂等记录"
        constraints = [
            models.UniqueConstraint(fields=["member", "scope", "key"], name="idempotency_unique")
        ]

    def __str__(self) -> str:
        return f"{self.scope}:{self.key}"
