"""Notification delivery through pluggable backends (NOTIFICATION_BACKENDS).

Each backend is a dotted path to a class with `send(message)`. The default is
the in-app inbox plus e-mail. The inbox row is written in the caller's
transaction; every other backend runs after commit, so a rolled-back change
never reaches anybody's phone or mailbox.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Protocol

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.utils.module_loading import import_string

from matching.models import Notification, VolunteerProfile

log = logging.getLogger(__name__)

DEFAULT_BACKENDS = [
    "matching.notifications.InboxBackend",
    "matching.notifications.EmailBackend",
]


@dataclass(frozen=True)
class Message:
    member_id: int
    kind: str
    title: str
    body: str
    data: dict[str, Any] = field(default_factory=dict)
    dedupe_key: str = ""


class Backend(Protocol):
    #: True when the backend writes inside the caller's transaction.
    transactional: bool

    def send(self, message: Message) -> bool:
        """Deliver; return False when the message was a duplicate and was dropped."""


class InboxBackend:
    """The in-app inbox (站内信)."""

    transactional = True

    def send(self, message: Message) -> bool:
        try:
            with transaction.atomic():
                Notification.objects.create(
                    member_id=message.member_id,
                    kind=message.kind,
                    title=message.title,
                    body=message.body,
                    data=message.data,
                    dedupe_key=message.dedupe_key,
                )
        except IntegrityError:
            return False  # already delivered under this dedupe key
        return True


class EmailBackend:
    """Django e-mail to the address on the volunteer's profile, if they gave one."""

    transactional = False

    def send(self, message: Message) -> bool:
        address = (
            VolunteerProfile.objects.filter(member_id=message.member_id)
            .values_list("notify_email", flat=True)
            .first()
        )
        if not address:
            return False
        send_mail(
            subject=message.title,
            message=message.body,
            from_email=None,
            recipient_list=[address],
            fail_silently=True,
        )
        return True


class SmsBackend:
    """The SMS interface. No provider is wired in: listing this backend without one
    is a configuration error, said at the first send rather than silently dropped."""

    transactional = False

    def send(self, message: Message) -> bool:
        raise ImproperlyConfigured(
            "SmsBackend has no SMS provider. Subclass it, implement send() against your "
            "provider's API, and list the subclass in NOTIFICATION_BACKENDS."
        )


def backends() -> list[Backend]:
    paths = getattr(settings, "NOTIFICATION_BACKENDS", DEFAULT_BACKENDS)
    return [import_string(path)() for path in paths]


def notify(
    *,
    member_id: int,
    kind: str,
    title: str,
    body: str = "",
    data: dict[str, Any] | None = None,
    dedupe_key: str = "",
) -> None:
    """Tell a member something through every configured backend."""
    message = Message(member_id, kind, title, body, data or {}, dedupe_key)
    later: list[Backend] = []
    for backend in backends():
        if backend.transactional:
            if not backend.send(message) and dedupe_key:
                return  # a duplicate: the others delivered it the first time
        else:
            later.append(backend)

    def deliver() -> None:
        for backend in later:
            try:
                backend.send(message)
            except ImproperlyConfigured:
                raise
            except Exception:
                log.exception("notification backend %s failed", type(backend).__name__)

    if later:
        transaction.on_commit(deliver)
