"""Demo needs, shifts and volunteer profiles for `manage.py seed_demo`.

Profiles and shifts are bulk-inserted (a district has 20,000 volunteers); the
demo volunteer's own sign-ups go through the sign-up service, so seats, events
and waitlists are exactly as the app makes them.
"""

from __future__ import annotations

import datetime as dt
import random
from typing import TYPE_CHECKING

from django.db import transaction
from django.utils import timezone

from matching.models import (
    AvailabilityWindow,
    Need,
    Shift,
    VolunteerProfile,
    VolunteerSkill,
)
from matching.services.signups import signup_create
from timebank.errors import ApplicationError
from timebank.people.models import Member, Role, RoleName

if TYPE_CHECKING:
    from timebank.demo import DemoContext

SKILLS = [("elder_care", 0.4), ("tutoring", 0.25), ("first_aid", 0.2), ("driving", 0.15)]
LANGUAGES = [("zh", 0.97), ("yue", 0.4), ("en", 0.2), ("hak", 0.05)]
# (category, title, skills, languages, priority range, start hours, length h, headcount)
TEMPLATES: list[
    tuple[str, str, list[str], list[str], tuple[int, int], list[int], int, tuple[int, int]]
] = [
    ("elder_care", "独居长者上门探访", ["elder_care"], [], (4, 5), [9, 10, 14, 15], 2, (1, 2)),
    ("elder_care", "长者助餐送餐", [], [], (3, 5), [11], 1, (2, 3)),
    ("escort", "陪同长者到医院复诊", ["elder_care"], ["yue"], (4, 5), [8, 9, 13], 3, (1, 1)),
    ("tutoring", "四点半课堂作业辅导", ["tutoring"], [], (2, 3), [16], 2, (2, 4)),
    ("cleanup", "小区公共区域清洁", [], [], (1, 2), [8, 9], 2, (3, 6)),
    ("event", "社区义诊活动协助", ["first_aid"], [], (2, 4), [9, 14], 3, (4, 8)),
]


def _pick(rng: random.Random, table: list[tuple[str, float]]) -> list[str]:
    return [name for name, share in table if rng.random() < share]


def _windows(rng: random.Random, profile_id: int, retired: bool) -> list[AvailabilityWindow]:
    out: list[AvailabilityWindow] = []
    if retired:
        for day in range(5):
            if rng.random() < 0.7:
                out.append(
                    AvailabilityWindow(
                        profile_id=profile_id, weekday=day, start=dt.time(8), end=dt.time(17)
                    )
                )
    elif rng.random() < 0.6:
        out += [
            AvailabilityWindow(profile_id=profile_id, weekday=d, start=dt.time(18), end=dt.time(21))
            for d in range(5)
        ]
    if rng.random() < 0.6:
        for day in (5, 6):
            out.append(
                AvailabilityWindow(
                    profile_id=profile_id, weekday=day, start=dt.time(9), end=dt.time(12)
                )
            )
            out.append(
                AvailabilityWindow(
                    profile_id=profile_id, weekday=day, start=dt.time(14), end=dt.time(18)
                )
            )
    return out


@transaction.atomic
def _profiles(ctx: DemoContext) -> None:
    rng = ctx.rng
    today = timezone.localdate()
    profiles: list[VolunteerProfile] = []
    skills: list[VolunteerSkill] = []
    windows: list[AvailabilityWindow] = []
    for member in ctx.progress(ctx.volunteers, "volunteer profiles", len(ctx.volunteers)):
        profiles.append(
            VolunteerProfile(
                member=member,
                languages=_pick(rng, LANGUAGES) or ["zh"],
                home_lat=member.home_lat,
                home_lon=member.home_lon,
                travel_radius_km=rng.choice([2.0, 3.0, 3.0, 3.0, 5.0]),
                weekly_limit_minutes=rng.choice([None, 240, 360, 600]),
                preferred_categories=[c for c, *_ in TEMPLATES if rng.random() < 0.15],
            )
        )
        age = member.age_on(today) or 40
        for name in _pick(rng, SKILLS):
            expires = (
                today + dt.timedelta(days=rng.randint(-30, 700)) if name == "first_aid" else None
            )
            skills.append(VolunteerSkill(profile_id=member.pk, name=name, cert_expires=expires))
        windows += _windows(rng, member.pk, retired=age >= 60)
    VolunteerProfile.objects.bulk_create(profiles, batch_size=2000)
    VolunteerSkill.objects.bulk_create(skills, batch_size=5000)
    AvailabilityWindow.objects.bulk_create(windows, batch_size=5000)


@transaction.atomic
def _needs(ctx: DemoContext) -> None:
    rng = ctx.rng
    today = timezone.localdate()
    per_community = 12 if ctx.size != "district" else 30
    elders = {cid: list(ids) for cid, ids in _residents_by_community(ctx).items()}
    for community in ctx.communities:
        worker = ctx.staff.get(community.id, {}).get("social_worker")
        if worker is None:
            continue
        needs: list[Need] = []
        plans: list[list[tuple[dt.datetime, dt.datetime, int]]] = []
        for _ in range(per_community):
            category, title, need_skills, langs, prio, hours, length, heads = rng.choice(TEMPLATES)
            lat = round(community.center_lat + rng.uniform(-0.012, 0.012), 6)
            lon = round(community.center_lon + rng.uniform(-0.012, 0.012), 6)
            beneficiary = (
                rng.choice(elders[community.id])
                if category in ("elder_care", "escort") and elders.get(community.id)
                else None
            )
            needs.append(
                Need(
                    community=community,
                    title=title,
                    category=category,
                    priority=rng.randint(*prio),
                    description="",
                    beneficiary_id=beneficiary,
                    lat=lat,
                    lon=lon,
                    address=f"{community.name}{rng.randint(1, 40)}栋",
                    skills=need_skills,
                    languages=langs if rng.random() < 0.5 else [],
                    created_by=worker,
                )
            )
            shifts = []
            for _occurrence in range(rng.randint(1, 3)):
                day = today + dt.timedelta(days=rng.randint(1, 14))
                start = timezone.make_aware(dt.datetime.combine(day, dt.time(rng.choice(hours))))
                shifts.append((start, start + dt.timedelta(hours=length), rng.randint(*heads)))
            plans.append(shifts)
        created = Need.objects.bulk_create(needs)
        Shift.objects.bulk_create(
            [
                Shift(need=need, community=community, start=s, end=e, headcount=h)
                for need, shifts in zip(created, plans, strict=True)
                for s, e, h in shifts
            ]
        )


def _residents_by_community(ctx: DemoContext) -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    ids = [m.pk for m in ctx.residents]
    for member_id, community_id in Role.objects.filter(
        member_id__in=ids, role=RoleName.RESIDENT
    ).values_list("member_id", "community_id"):
        out.setdefault(community_id, []).append(member_id)
    return out


def _demo_volunteer_signs_up(ctx: DemoContext) -> None:
    """The demo volunteer has a couple of upcoming shifts, through the real service."""
    volunteer = Member.objects.filter(phone="13800000002").first()
    if volunteer is None or not ctx.communities:
        return
    taken = 0
    for shift in Shift.objects.filter(community=ctx.communities[0]).order_by("start")[:20]:
        try:
            signup_create(volunteer=volunteer, shift_id=shift.pk)
        except ApplicationError:
            continue  # a skill, language or overlap the demo volunteer does not meet
        taken += 1
        if taken == 2:
            break


def seed(ctx: DemoContext) -> None:
    _profiles(ctx)
    _needs(ctx)
    _demo_volunteer_signs_up(ctx)
