"""Residents' service requests (居民需求): asked by a resident, handled by staff."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from matching.models import Category, Need, RequestStatus, ServiceRequest
from timebank import permissions
from timebank.errors import Conflict, Forbidden, field_error
from timebank.events import member_group, record, staff_group
from timebank.people.models import Community, Member


def _data(r: ServiceRequest) -> dict[str, object]:
    return {
        "request": r.pk,
        "community": r.community_id,
        "category": r.category,
        "status": r.status,
        "need": r.need_id,
    }


def service_request_create(
    *, member: Member, community: Community, category: str, description: str, preferred: str = ""
) -> ServiceRequest:
    """Any member of the community may ask; staff are told live."""
    if not permissions.role_map(member).get(community.pk) and not member.is_superuser:
        raise Forbidden(_("只能向自己所在的社区提出请求"), code="not_in_community")
    if category not in Category.values:
        raise field_error("category", _("未知的需求类别"), code="invalid_category")
    description = description.strip()
    if not description:
        raise field_error("description", _("请说明需要什么帮助"), code="description_required")
    if len(description) > 500 or len(preferred) > 200:
        raise field_error("description", _("内容过长"), code="too_long")
    with transaction.atomic(durable=True):
        r = ServiceRequest.objects.create(
            community=community,
            member=member,
            category=category,
            description=description,
            preferred=preferred.strip(),
        )
        record(staff_group(community.pk), "service.requested", _data(r))
    return r


def service_request_handle(
    *,
    actor: Member,
    request: ServiceRequest,
    accept: bool,
    need: Need | None = None,
    note: str = "",
) -> ServiceRequest:
    """Accept (optionally linking the need posted for it) or decline with a note.
    The resident is told live."""
    permissions.require(actor, "need.create", request.community_id)
    if not accept and not note.strip():
        raise field_error("note", _("请说明未受理的原因"), code="reason_required")
    if need is not None and need.community_id != request.community_id:
        raise field_error("need", _("需求不属于该社区"), code="need_not_in_community")
    with transaction.atomic(durable=True):
        locked = ServiceRequest.objects.select_for_update(no_key=True).get(pk=request.pk)
        if locked.status != RequestStatus.OPEN:
            raise Conflict(_("该请求已处理"), code="request_handled")
        locked.status = RequestStatus.ACCEPTED if accept else RequestStatus.DECLINED
        locked.need = need
        locked.note = note.strip()[:300]
        locked.handled_by = actor
        locked.handled_at = timezone.now()
        locked.save()
        record(
            [member_group(locked.member_id), staff_group(locked.community_id)],
            "service.request_handled",
            _data(locked),
        )
    return locked
