"""Ratings (好差评) of verified service, by the beneficiary or a social worker."""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.utils.translation import gettext_lazy as _

from matching.models import Assignment, AssignmentStatus, Rating
from timebank import permissions
from timebank.errors import Conflict, Forbidden, field_error
from timebank.people.models import Member


def rating_create(
    *, actor: Member, assignment: Assignment, score: int, comment: str = ""
) -> Rating:
    need = assignment.shift.need
    is_beneficiary = need.beneficiary_id is not None and need.beneficiary_id == actor.pk
    if not is_beneficiary and not permissions.allowed(
        actor, "assignment.verify", assignment.community_id
    ):
        raise Forbidden(_("只有服务对象或社工可以评价"), code="forbidden")
    if not 1 <= score <= 5:
        raise field_error("score", _("评分须在 1 到 5 之间"), code="invalid_score")
    if assignment.status != AssignmentStatus.VERIFIED:
        raise Conflict(_("服务核验后才能评价"), code="not_verified")
    try:
        with transaction.atomic():
            return Rating.objects.create(
                assignment=assignment,
                volunteer_id=assignment.volunteer_id,
                rater=actor,
                category=need.category,
                score=score,
                comment=comment.strip()[:500],
            )
    except IntegrityError:
        raise Conflict(_("你已评价过这次服务"), code="already_rated") from None
