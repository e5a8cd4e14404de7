"""Writes about people: `<noun>_<verb>(*, ...)`, keyword-only, one transaction each."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from timebank import events, permissions
from timebank.audit.services import personal_data_viewed, record_audit
from timebank.auth import (
    login_check_throttle,
    login_clear_failures,
    login_record_failure,
    token_issue,
)
from timebank.errors import (
    ApplicationError,
    Conflict,
    Forbidden,
    InvalidInput,
    Unauthorized,
    field_error,
)
from timebank.people.models import (
    INVERSE_RELATION,
    PHONE_RE,
    ApiToken,
    Community,
    Member,
    Relation,
    Role,
    RoleName,
)

# Social workers may register residents and volunteers; staff roles are the admin's to grant.
SOCIAL_WORKER_GRANTABLE = frozenset({RoleName.VOLUNTEER, RoleName.RESIDENT})


def community_create(
    *,
    actor: Member,
    name: str,
    street: str,
    district: str,
    center_lat: float,
    center_lon: float,
    residents: int = 0,
) -> Community:
    permissions.require(actor, "community.create")
    try:
        with transaction.atomic():
            community = Community.objects.create(
                name=name.strip(),
                street=street.strip(),
                district=district.strip(),
                center_lat=center_lat,
                center_lon=center_lon,
                residents=residents,
            )
            events.record(
                [events.SUPERUSER_GROUP, events.member_group(actor.id)],
                "community.created",
                {"community": community.id, "name": community.name, "street": community.street},
            )
    except IntegrityError:
        raise Conflict(_("该街道下已有同名社区"), code="community_exists") from None
    return community


def community_update(*, actor: Member, community: Community, changes: dict[str, Any]) -> Community:
    """Change a community's name, population or matching policy (admin). The change
    is audited with its before and after (`policy.changed`)."""
    permissions.require(actor, "community.update", community.id)
    allowed = {"name", "residents", "matching_auto_confirm"}
    wanted = {k: v for k, v in changes.items() if k in allowed and v is not None}
    with transaction.atomic():
        locked = Community.objects.select_for_update(no_key=True).get(pk=community.pk)
        before = {k: getattr(locked, k) for k in wanted}
        diff = {k: v for k, v in wanted.items() if before[k] != v}
        if not diff:
            return locked
        for k, v in diff.items():
            setattr(locked, k, v.strip() if isinstance(v, str) else v)
        try:
            with transaction.atomic():
                locked.save(update_fields=sorted(diff))
        except IntegrityError:
            raise Conflict(_("该街道下已有同名社区"), code="community_exists") from None
        record_audit(
            actor=actor,
            action="policy.changed",
            obj=locked,
            community_id=locked.pk,
            changes={"before": {k: before[k] for k in diff}, "after": diff},
        )
        events.record(
            events.staff_group(locked.pk),
            "community.updated",
            {"community": locked.pk, "changed": sorted(diff)},
        )
    return locked


def _check_grantable(actor: Member, community: Community, role_names: Sequence[str]) -> None:
    if actor.is_superuser or permissions.has_role(actor, community.id, RoleName.ADMIN):
        return
    extra = set(role_names) - SOCIAL_WORKER_GRANTABLE
    if extra:
        raise Forbidden(
            _("只有社区管理员可以授予工作人员角色：%(roles)s")
            % {"roles": ", ".join(sorted(extra))},
            code="role_not_grantable",
        )


def _validate_birth_date(birth_date: dt.date | None) -> None:
    if birth_date is None:
        return
    today = timezone.localdate()
    if birth_date > today or birth_date.year < 1900:
        raise field_error("birth_date", _("出生日期不合理"), code="invalid_birth_date")


def member_register(
    *,
    actor: Member,
    community: Community,
    name: str,
    phone: str | None,
    password: str | None = None,
    roles: Sequence[str] = (),
    birth_date: dt.date | None = None,
    home_lat: float | None = None,
    home_lon: float | None = None,
    proxy: bool = False,
) -> Member:
    """Register a person in `community` (staff only), optionally for someone with no
    phone of their own (proxy entry, 帮办代办)."""
    permissions.require(actor, "member.register", community.id)
    role_names = list(dict.fromkeys(roles))
    _check_grantable(actor, community, role_names)
    name = name.strip()
    if not name:
        raise field_error("name", _("请填写姓名"))
    if not proxy and not phone:
        raise field_error("phone", _("请填写手机号，或选择代办登记"), code="invalid_phone")
    if phone is not None and phone != "":
        import re

        if not re.fullmatch(PHONE_RE, phone):
            raise field_error("phone", _("请输入11位中国大陆手机号码"), code="invalid_phone")
    _validate_birth_date(birth_date)
    if (home_lat is None) != (home_lon is None):
        raise field_error("location", _("住址坐标须同时给出纬度和经度"))
    if password:
        if not phone:
            raise field_error("password", _("没有手机号的成员无法用密码登录"))
        try:
            password_validation.validate_password(password, Member(phone=phone, name=name))
        except ValidationError as exc:
            raise InvalidInput(
                _("密码不符合要求"),
                code="weak_password",
                errors=[{"field": "password", "message": str(m)} for m in exc.messages],
            ) from None
    try:
        with transaction.atomic():
            member = Member(
                phone=phone or None,
                name=name,
                birth_date=birth_date,
                home_lat=home_lat,
                home_lon=home_lon,
                registered_by=actor if proxy else None,
            )
            if password:
                member.set_password(password)
            else:
                member.set_unusable_password()
            member.save()
            Role.objects.bulk_create(
                [
                    Role(member=member, community=community, role=r, granted_by=actor)
                    for r in role_names
                ]
            )
            for r in role_names:
                record_audit(
                    actor=actor,
                    action="role.granted",
                    object_type="people.role",
                    community_id=community.id,
                    subject_id=member.id,
                    changes={"role": r, "registered": True},
                )
            events.record(
                [events.staff_group(community.id), events.member_group(member.id)],
                "member.registered",
                {
                    "member": member.id,
                    "name": member.name,
                    "phone": member.masked_phone,
                    "community": community.id,
                    "roles": role_names,
                    "proxy": proxy,
                },
            )
    except IntegrityError:
        raise Conflict(_("该手机号已注册"), code="phone_taken") from None
    return member


def role_grant(*, actor: Member, member: Member, community: Community, role: str) -> Role:
    permissions.require(actor, "member.register", community.id)
    _check_grantable(actor, community, [role])
    with transaction.atomic():
        obj, created = Role.objects.get_or_create(
            member=member, community=community, role=role, defaults={"granted_by": actor}
        )
        if created:
            events.record(
                [events.staff_group(community.id), events.member_group(member.id)],
                "role.granted",
                {"member": member.id, "community": community.id, "role": role},
            )
            record_audit(
                actor=actor,
                action="role.granted",
                obj=obj,
                community_id=community.id,
                subject_id=member.id,
                changes={"role": role},
            )
    permissions.forget_roles(member)
    return obj


def role_revoke(*, actor: Member, member: Member, community: Community, role: str) -> None:
    permissions.require(actor, "role.grant", community.id)
    with transaction.atomic():
        deleted, _rows = Role.objects.filter(member=member, community=community, role=role).delete()
        if deleted:
            record_audit(
                actor=actor,
                action="role.revoked",
                object_type="people.role",
                community_id=community.id,
                subject_id=member.id,
                changes={"role": role},
            )
    permissions.forget_roles(member)


def relation_record(
    *, actor: Member, community: Community, member: Member, relative: Member, relation: str
) -> Relation:
    """Record that `relative` is `member`'s <relation>; the inverse row is written too."""
    permissions.require(actor, "relation.create", community.id)
    if member.pk == relative.pk:
        raise field_error("relative", _("不能把自己登记为亲属"), code="relation_to_self")
    in_community = set(
        Role.objects.filter(community=community, member__in=[member, relative]).values_list(
            "member_id", flat=True
        )
    )
    if member.pk not in in_community and relative.pk not in in_community:
        raise field_error("member", _("两人都不属于该社区"), code="not_in_community")
    with transaction.atomic():
        existing = Relation.objects.filter(member=member, relative=relative).first()
        if existing is not None:
            if existing.relation == relation:
                return existing
            raise Conflict(_("两人之间已登记了其他关系"), code="relation_exists")
        if relation == "spouse":
            taken = Relation.objects.filter(relation="spouse", member__in=[member, relative])
            if taken.exists():
                raise Conflict(_("其中一人已登记配偶"), code="spouse_exists")
        forward = Relation.objects.create(
            member=member,
            relative=relative,
            relation=relation,
            recorded_by=actor,
            community=community,
        )
        Relation.objects.create(
            member=relative,
            relative=member,
            relation=INVERSE_RELATION[relation],
            recorded_by=actor,
            community=community,
        )
        events.record(
            [
                events.staff_group(community.id),
                events.member_group(member.id),
                events.member_group(relative.id),
            ],
            "relation.recorded",
            {"member": member.id, "relative": relative.id, "relation": relation},
        )
    return forward


def auth_login(*, phone: str, password: str, address: str) -> tuple[str, Member]:
    """Check a phone and password; issue a bearer token. 429 after repeated failures."""
    login_check_throttle(phone=phone, address=address)
    member = Member.objects.filter(phone=phone).first()
    if member is None or not member.is_active or not member.check_password(password):
        if member is None:
            # Spend the same time hashing as a real check, so response time
            # does not reveal which phones are registered.
            Member().set_password(password)
        login_record_failure(phone=phone, address=address)
        raise Unauthorized(_("手机号或密码错误"), code="bad_credentials")
    login_clear_failures(phone=phone)
    with transaction.atomic():
        raw, _row = token_issue(member=member)
        Member.objects.filter(pk=member.pk).update(last_login=timezone.now())
    return raw, member


def auth_logout(*, token: ApiToken | None) -> None:
    if token is not None and token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])


# --- PIPL: a member's own data, and erasure -------------------------------------

# Never exported: secrets, or the hashes of secrets.
_SECRET_FIELDS = frozenset({"password", "key_hash", "calendar_token"})
ERASED_NAME = "已注销用户"


def _rows(qs: Iterable[Any]) -> list[dict[str, Any]]:
    """Every concrete field of each row (foreign keys as ids), secrets left out."""
    out = []
    for obj in qs:
        out.append(
            {
                f.attname: getattr(obj, f.attname)
                for f in obj._meta.concrete_fields
                if f.name not in _SECRET_FIELDS
            }
        )
    return out


def member_export(*, actor: Member) -> dict[str, Any]:
    """Everything held about `actor` (PIPL 查阅复制权), as a JSON-ready dict.

    Only ever the actor's own data: there is no member argument to get wrong.
    The export itself is audited.
    """
    from matching.models import (
        Assignment,
        AvailabilityException,
        AvailabilityWindow,
        Notification,
        Rating,
        ServiceRequest,
        VolunteerProfile,
        VolunteerSkill,
    )
    from resources.models import Reservation, Suspension, WaitlistEntry
    from timebank.audit.models import AuditEntry
    from timebank.ledger.models import Account, Certificate
    from timebank.ledger.selectors import ledger_summary, statement

    member = actor
    profile = _rows(Member.objects.filter(pk=member.pk))[0]
    for hidden in ("is_superuser", "is_staff"):
        profile.pop(hidden, None)
    summary = ledger_summary(member=member)
    data: dict[str, Any] = {
        "exported_at": timezone.now(),
        "member": profile,
        "roles": _rows(Role.objects.filter(member=member).order_by("id")),
        "relations": _rows(Relation.objects.filter(member=member).order_by("id")),
        "api_tokens": _rows(ApiToken.objects.filter(member=member).order_by("id")),
        "volunteer_profile": _rows(VolunteerProfile.objects.filter(member=member)),
        "skills": _rows(VolunteerSkill.objects.filter(profile__member=member).order_by("id")),
        "availability": _rows(
            AvailabilityWindow.objects.filter(profile__member=member).order_by("id")
        ),
        "availability_exceptions": _rows(
            AvailabilityException.objects.filter(profile__member=member).order_by("id")
        ),
        "assignments": _rows(Assignment.objects.filter(volunteer=member).order_by("id")),
        "ratings": _rows(Rating.objects.filter(volunteer=member).order_by("id")),
        "reservations": _rows(Reservation.objects.filter(member=member).order_by("id")),
        "suspensions": _rows(Suspension.objects.filter(member=member).order_by("id")),
        "waitlist": _rows(WaitlistEntry.objects.filter(member=member).order_by("id")),
        "ledger": {
            "accounts": _rows(Account.objects.filter(member=member).order_by("id")),
            "summary": dataclasses.asdict(summary),
            "entries": [
                {
                    "id": e.pk,
                    "transfer": e.transfer_id,
                    "kind": e.transfer.kind,
                    "community": e.transfer.community_id,
                    "memo": e.transfer.memo,
                    "created_at": e.transfer.created_at,
                    "minutes": e.minutes,
                    "balance_after": e.balance_after,
                }
                for e in statement(member=member)
            ],
            "certificates": _rows(Certificate.objects.filter(volunteer=member).order_by("id")),
        },
        "notifications": _rows(Notification.objects.filter(member=member).order_by("id")),
        "service_requests": _rows(ServiceRequest.objects.filter(member=member).order_by("id")),
        "audit": _rows(
            AuditEntry.objects.filter(Q(subject=member) | Q(actor=member)).order_by("id")
        ),
    }
    with transaction.atomic():
        record_audit(
            actor=member,
            action="member.exported",
            obj=member,
            subject_id=member.pk,
        )
    return data


def _member_communities(member: Member) -> list[int]:
    return sorted(set(Role.objects.filter(member=member).values_list("community_id", flat=True)))


def member_erase(*, actor: Member, password: str | None = None) -> Member:
    """Erase the actor's account (PIPL 删除权). Harmless to repeat.

    The member is deactivated first (no new sign-ups or bookings), then upcoming
    assignments and reservations are cancelled, each through its own service
    (seats freed, waitlists offered, events sent). Then, in one transaction:
    name and phone are anonymised, birth date and home location cleared, relations
    removed, tokens revoked, sessions ended, the volunteer profile's personal fields
    cleared. Ledger transfers are not touched (they are hashed and append-only), so
    balances and `ledger verify` still hold; they now belong to an anonymous account.
    """
    member = Member.objects.get(pk=actor.pk)
    if member.erased_at is not None:
        return member
    if (
        password is not None
        and member.has_usable_password()
        and not member.check_password(password)
    ):
        raise field_error("password", _("密码不正确"), code="bad_password")
    # Inactive from here on: no new sign-ups or bookings (the permission layer
    # refuses inactive members), so the sweep below is not chasing new ones.
    was_active = member.is_active
    Member.objects.filter(pk=member.pk).update(is_active=False)
    try:
        skipped = _cancel_upcoming(member)
        erased = _anonymise(actor=actor, skipped=skipped)
    except BaseException:
        if was_active:
            Member.objects.filter(pk=member.pk, erased_at__isnull=True).update(is_active=True)
        raise
    # A request already past its permission check may have booked meanwhile.
    _cancel_upcoming(erased)
    permissions.forget_roles(actor)
    return erased


def _cancel_upcoming(member: Member) -> list[dict[str, Any]]:
    """Cancel upcoming assignments and reservations through their services; what a
    service refuses (e.g. a shift already started) is listed, not forced."""
    from matching.models import ACTIVE, Assignment
    from matching.services.signups import assignment_cancel
    from resources.lifecycle import reservation_cancel
    from resources.models import (
        ACTIVE_STATUSES,
        AllocationRequest,
        RequestStatus,
        Reservation,
        RoundStatus,
        WaitlistEntry,
        WaitlistStatus,
    )

    now = timezone.now()
    skipped: list[dict[str, Any]] = []
    # Out of every queue first, so a slot freed below is not offered back to them.
    WaitlistEntry.objects.filter(member=member, status=WaitlistStatus.WAITING).update(
        status=WaitlistStatus.CANCELLED
    )
    AllocationRequest.objects.filter(
        member=member, status=RequestStatus.REQUESTED, round__status=RoundStatus.OPEN
    ).delete()
    upcoming = Assignment.objects.filter(volunteer=member, status__in=ACTIVE, start__gt=now)
    for a in upcoming.order_by("start"):
        try:
            assignment_cancel(actor=member, assignment=a, reason=str(_("成员注销账户")))
        except ApplicationError as exc:
            skipped.append({"assignment": a.pk, "code": exc.code})
    bookings = Reservation.objects.filter(member=member, status__in=ACTIVE_STATUSES, start__gt=now)
    for r in bookings.order_by("start"):
        try:
            reservation_cancel(actor=member, reservation_id=r.pk)
        except ApplicationError as exc:
            skipped.append({"reservation": r.pk, "code": exc.code})
    return skipped


def _anonymise(*, actor: Member, skipped: list[dict[str, Any]]) -> Member:
    from matching.models import (
        AvailabilityException,
        AvailabilityWindow,
        VolunteerProfile,
        VolunteerSkill,
        new_calendar_token,
    )

    now = timezone.now()
    with transaction.atomic():
        member = Member.objects.select_for_update(no_key=True).get(pk=actor.pk)
        if member.erased_at is not None:
            return member
        communities = _member_communities(member)
        member.name = f"{ERASED_NAME}{member.pk}"
        member.phone = None
        member.birth_date = None
        member.home_lat = None
        member.home_lon = None
        member.id_verified = False
        member.elder_mode = False
        member.is_active = False
        member.erased_at = now
        member.set_unusable_password()
        member.save()
        Relation.objects.filter(Q(member=member) | Q(relative=member)).delete()
        ApiToken.objects.filter(member=member, revoked_at__isnull=True).update(revoked_at=now)
        VolunteerProfile.objects.filter(member=member).update(
            languages=[],
            home_lat=None,
            home_lon=None,
            preferred_categories=[],
            notify_email="",
            calendar_token=new_calendar_token(),
            weekly_limit_minutes=None,
        )
        VolunteerSkill.objects.filter(profile__member=member).delete()
        AvailabilityWindow.objects.filter(profile__member=member).delete()
        AvailabilityException.objects.filter(profile__member=member).delete()
        _end_sessions(member.pk)
        _scrub_events(member)
        record_audit(
            actor=actor.pk,
            action="member.erased",
            obj=member,
            subject_id=member.pk,
            changes={"communities": communities, "skipped": skipped},
        )
        events.record(
            [events.member_group(member.pk), *(events.staff_group(c) for c in communities)],
            "member.erased",
            {"member": member.pk},
        )
    return member


def _end_sessions(member_id: int) -> None:
    """Delete the member's web sessions (database sessions)."""
    from django.contrib.sessions.models import Session

    wanted = str(member_id)
    doomed = [
        s.pk
        for s in Session.objects.filter(expire_date__gt=timezone.now()).iterator()
        if s.get_decoded().get("_auth_user_id") == wanted
    ]
    if doomed:
        Session.objects.filter(pk__in=doomed).delete()


def personal_data_view(
    *, actor: Member, community: Community, members: Sequence[int], via: str
) -> None:
    """Staff were shown unmasked personal data of `members`: one audit row."""
    permissions.require(actor, "member.read", community.id)
    with transaction.atomic():
        personal_data_viewed(actor=actor, members=members, community_id=community.id, via=via)


def _scrub_events(member: Member) -> None:
    """Past live events that named the member (for replay with `?since=`) now carry
    the anonymous name and no phone."""
    from timebank.models import Event

    for event in Event.objects.filter(type="member.registered", data__member=member.pk):
        event.data = {**event.data, "name": member.name, "phone": ""}
        event.save(update_fields=["data"])
