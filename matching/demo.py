"""Demo volunteering: a profile for every volunteer (skills and languages in
realistic shares, weekday-evening and weekend windows) and, per community, a
fortnight of needs posted by its social worker."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from django.db import transaction
from django.utils import timezone

from matching.models import AvailabilityWindow, VolunteerProfile, VolunteerSkill
from matching.services.needs import ShiftSpec, need_post
from timebank.people.models import Member, Role

if TYPE_CHECKING:
    from timebank.demo import DemoContext

# (skill, share of volunteers who have it)
SKILLS = [
    ("elder_care", 0.45),
    ("first_aid", 0.2),
    ("tutoring", 0.2),
    ("driving", 0.1),
    ("cleaning", 0.3),
    ("sign_language", 0.02),
]

NEEDS = [
    ("独居长者上门探访", "elder_care", 5, ["elder_care"], ["yue"], 2, 2),
    ("陪同长者到医院复诊", "escort", 5, [], [], 1, 3),
    ("四点半课堂作业辅导", "tutoring", 3, ["tutoring"], [], 3, 2),
    ("小区公共区域清洁", "cleanup", 2, [], [], 6, 2),
    ("社区义诊活动协助", "event", 3, ["first_aid"], [], 4, 4),
    ("长者智能手机教学", "elder_care", 4, [], [], 2, 2),
]


@transaction.atomic
def seed_profiles(ctx: DemoContext) -> None:
    rng = ctx.rng
    profiles, skills, windows = [], [], []
    for member in ctx.progress(ctx.volunteers, "profiles", len(ctx.volunteers)):
        langs = ["zh"] if rng.random() < 0.97 else []
        if rng.random() < 0.55:
            langs.append("yue")
        if rng.random() < 0.08:
            langs.append("en")
        if rng.random() < 0.05:
            langs.append("hakka")
        profiles.append(
            VolunteerProfile(
                member=member,
                languages=langs or ["yue"],
                home_lat=member.home_lat,
                home_lon=member.home_lon,
                travel_radius_km=rng.choice([2.0, 3.0, 3.0, 3.0, 5.0]),
                weekly_limit_minutes=rng.choice([240, 360, 480, 600]),
            )
        )
        for name, share in SKILLS:
            if rng.random() < share:
                skills.append(VolunteerSkill(profile_id=member.pk, name=name))
        # Weekday evenings for the working, daytimes too for the retired.
        for day in range(5):
            if rng.random() < 0.4:
                windows.append(
                    AvailabilityWindow(
                        profile_id=member.pk,
                        weekday=day,
                        start=dt.time(18, 30),
                        end=dt.time(21, 30),
                    )
                )
            if rng.random() < 0.15:
                windows.append(
                    AvailabilityWindow(
                        profile_id=member.pk, weekday=day, start=dt.time(9), end=dt.time(12)
                    )
                )
        for day in (5, 6):
            if rng.random() < 0.5:
                windows.append(
                    AvailabilityWindow(
                        profile_id=member.pk, weekday=day, start=dt.time(8), end=dt.time(18)
                    )
                )
    VolunteerProfile.objects.bulk_create(profiles, batch_size=2000)
    VolunteerSkill.objects.bulk_create(skills, batch_size=5000)
    AvailabilityWindow.objects.bulk_create(windows, batch_size=5000)


def seed_needs(ctx: DemoContext) -> None:
    rng = ctx.rng
    today = timezone.localdate()
    elders: dict[int, list[Member]] = {}
    residents = Role.objects.filter(role="resident", member__birth_date__isnull=False)
    for role in residents.select_related("member"):
        if (role.member.age_on(today) or 0) >= 65:
            elders.setdefault(role.community_id, []).append(role.member)
    for community in ctx.communities:
        worker = ctx.staff.get(community.id, {}).get("social_worker")
        if worker is None:
            continue
        for title, category, priority, skills, languages, headcount, hours in NEEDS:
            day = today + dt.timedelta(days=rng.randint(1, 13))
            hour = 19 if day.weekday() < 5 and category != "escort" else rng.choice([9, 14])
            start = timezone.make_aware(dt.datetime.combine(day, dt.time(hour)))
            nearby = elders.get(community.id, [])
            wants_one = category in ("elder_care", "escort")
            beneficiary = rng.choice(nearby) if nearby and wants_one else None
            need_post(
                actor=worker,
                community=community,
                title=title,
                category=category,
                priority=priority,
                lat=community.center_lat + rng.uniform(-0.008, 0.008),
                lon=community.center_lon + rng.uniform(-0.008, 0.008),
                address=f"{community.name}{rng.randint(1, 30)}栋",
                skills=skills,
                languages=languages,
                description="",
                beneficiary=beneficiary,
                shifts=[
                    ShiftSpec(
                        start=start, end=start + dt.timedelta(hours=hours), headcount=headcount
                    )
                ],
            )


def seed(ctx: DemoContext) -> None:
    seed_profiles(ctx)
    seed_needs(ctx)
