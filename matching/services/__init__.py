"""Writes of the matching app, split by concept. Import from here."""

from __future__ import annotations

from matching.services.attendance import (
    assignment_check_in,
    assignment_check_out,
    assignment_verify,
    service_minutes,
    shift_qr_token,
)
from matching.services.inbox import notification_mark_read
from matching.services.needs import (
    ShiftSpec,
    expand_recurrence,
    need_cancel,
    need_post,
    need_update,
)
from matching.services.noshows import no_shows_mark, no_shows_mark_due
from matching.services.profiles import (
    calendar_token_rotate,
    can_manage,
    parse_availability,
    profile_update,
)
from matching.services.ratings import rating_create
from matching.services.requests import service_request_create, service_request_handle
from matching.services.signups import (
    assignment_cancel,
    offer_accept,
    offers_expire_due,
    profile_ensure,
    signup_create,
)
from matching.services.staffing import assignment_assign

__all__ = [
    "ShiftSpec",
    "assignment_assign",
    "assignment_cancel",
    "assignment_check_in",
    "assignment_check_out",
    "assignment_verify",
    "calendar_token_rotate",
    "can_manage",
    "expand_recurrence",
    "need_cancel",
    "need_post",
    "need_update",
    "no_shows_mark",
    "no_shows_mark_due",
    "notification_mark_read",
    "offer_accept",
    "offers_expire_due",
    "parse_availability",
    "profile_ensure",
    "profile_update",
    "rating_create",
    "service_minutes",
    "service_request_create",
    "service_request_handle",
    "shift_qr_token",
    "signup_create",
]
