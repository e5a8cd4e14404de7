"""Authentication: a session cookie (web app) or a bearer token (API clients).

Tokens are random, shown once, and stored as SHA-256. They expire and can be
revoked. Repeated login failures for one phone or one address get 429.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from ninja.security import HttpBearer, SessionAuth

from timebank.errors import RateLimited, Unauthorized
from timebank.people.models import ApiToken, Member


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_issue(*, member: Member, ttl_hours: int | None = None) -> tuple[str, ApiToken]:
    """Create a token for `member`; return the raw token (shown once) and its row."""
    raw = secrets.token_urlsafe(32)
    hours = ttl_hours if ttl_hours is not None else int(settings.TOKEN_TTL_HOURS)
    row = ApiToken.objects.create(
        member=member,
        key_hash=hash_token(raw),
        prefix=raw[:8],
        expires_at=timezone.now() + timedelta(hours=hours),
    )
    return raw, row


def token_revoke(*, token: ApiToken) -> None:
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])


def member_for_token(raw: str) -> tuple[Member, ApiToken]:
    """The live member behind a raw token, or 401 with a code that says why."""
    row = ApiToken.objects.select_related("member").filter(key_hash=hash_token(raw)).first()
    if row is None:
        raise Unauthorized(_("令牌无效"), code="invalid_token")
    now = timezone.now()
    if row.revoked_at is not None:
        raise Unauthorized(_("令牌已注销"), code="token_revoked")
    if row.expires_at <= now:
        raise Unauthorized(_("令牌已过期，请重新登录"), code="token_expired")
    if not row.member.is_active:
        raise Unauthorized(_("账户已停用"), code="account_disabled")
    # Write last use at most once a minute: a token used in a hot loop
    # should not turn every read into a write.
    if row.last_used_at is None or now - row.last_used_at > timedelta(minutes=1):
        ApiToken.objects.filter(pk=row.pk).update(last_used_at=now)
    return row.member, row


class BearerAuth(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str) -> Member | None:
        member, row = member_for_token(token)
        request.user = member
        request.api_token = row  # type: ignore[attr-defined]
        return member


class CookieAuth(SessionAuth):
    """The Django session, with CSRF enforced on unsafe methods."""

    def authenticate(self, request: HttpRequest, key: str | None) -> Any:
        user = super().authenticate(request, key)
        if user is not None and not user.is_active:
            return None
        return user


API_AUTH = [BearerAuth(), CookieAuth()]


# --- login throttling ---------------------------------------------------------


def _failure_keys(phone: str, address: str) -> list[str]:
    return [f"login-fail:phone:{phone}", f"login-fail:addr:{address}"]


def login_check_throttle(*, phone: str, address: str) -> None:
    limit = int(settings.LOGIN_MAX_FAILURES)
    # An address gets more room than one phone: a community centre's shared
    # terminal signs many people in.
    for key, cap in zip(_failure_keys(phone, address), (limit, limit * 4), strict=True):
        if int(cache.get(key, 0)) >= cap:
            minutes = max(1, int(settings.LOGIN_LOCKOUT_SECONDS) // 60)
            raise RateLimited(
                _("登录失败次数过多，请 %(minutes)d 分钟后再试") % {"minutes": minutes},
                code="too_many_attempts",
                headers={"Retry-After": str(int(settings.LOGIN_LOCKOUT_SECONDS))},
            )


def login_record_failure(*, phone: str, address: str) -> None:
    ttl = int(settings.LOGIN_LOCKOUT_SECONDS)
    for key in _failure_keys(phone, address):
        if not cache.add(key, 1, ttl):
            try:
                cache.incr(key)
            except ValueError:
                cache.set(key, 1, ttl)


def login_clear_failures(*, phone: str) -> None:
    cache.delete(f"login-fail:phone:{phone}")


def client_address(request: HttpRequest) -> str:
    return str(request.META.get("REMOTE_ADDR") or "unknown")
