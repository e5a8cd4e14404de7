"""Demo data: a believable Futian street, deterministic per seed.

`seed_people` builds communities and people with bulk inserts. Each app may
add its own part in `<app>/demo.py` with a `seed(ctx)` function; the command
calls them in order, so the demo grows with the product.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any, TypeVar

from django.contrib.auth.hashers import make_password
from django.db import transaction

from timebank.people.models import Community, Member, Role

T = TypeVar("T")

DEMO_PASSWORD = "timebank-demo"  # noqa: S105 - printed for the demo, on purpose

# Real Futian streets (街道) and communities (社区), with rough centre points.
STREETS: list[tuple[str, float, float, list[str]]] = [
    (
        "莲花街道",
        22.5530,
        114.0530,
        ["莲花一村社区", "莲花二村社区", "彩田社区", "景华社区", "狮岭社区"],
    ),
    ("香蜜湖街道", 22.5430, 114.0240, ["香蜜社区", "东海社区", "竹林社区", "侨香社区"]),
    ("福田街道", 22.5300, 114.0620, ["岗厦社区", "皇岗社区", "福山社区", "福安社区"]),
    ("华富街道", 22.5480, 114.0720, ["田面社区", "莲花北社区", "新田社区", "景田北社区"]),
    ("梅林街道", 22.5700, 114.0480, ["梅林一村社区", "梅京社区", "孖岭社区", "上梅林社区"]),
    ("沙头街道", 22.5250, 114.0330, ["沙嘴社区", "新沙社区", "天安社区", "金地社区"]),
    ("园岭街道", 22.5500, 114.0850, ["园岭社区", "百花社区", "红荔社区", "鹏盛社区"]),
    ("南园街道", 22.5400, 114.0900, ["南园社区", "滨江社区", "园东社区", "埔尾社区"]),
    ("华强北街道", 22.5430, 114.0830, ["华强北社区", "通新岭社区", "荔村社区", "福强社区"]),
    ("福保街道", 22.5180, 114.0560, ["福保社区", "石厦社区", "明月社区", "益田社区"]),
]

SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高郑梁谢宋唐许韩冯邓曹彭曾萧田董潘袁蔡蒋余于杜叶程"
)
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍建国志红梅海燕文斌婷辉慧鹏晶宇浩然欣怡子轩雨涵"

SIZES: dict[str, dict[str, int]] = {
    # streets, communities per street, volunteers, residents per community
    "community": {"streets": 1, "communities": 1, "volunteers": 60, "residents": 40},
    "street": {"streets": 1, "communities": 4, "volunteers": 300, "residents": 60},
    "district": {"streets": 10, "communities": 4, "volunteers": 20000, "residents": 400},
}

# Fixed demo logins, printed by `make run`.
DEMO_LOGINS: list[tuple[str, str, str]] = [
    ("13800000001", "李社工", "social_worker"),
    ("13800000002", "王志愿", "volunteer"),
    ("13800000003", "陈阿婆", "resident"),
    ("13800000004", "赵场管", "space_manager"),
    ("13800000005", "周主任", "admin"),
]


@dataclass
class DemoContext:
    rng: random.Random
    size: str
    progress: Callable[[Iterable[T], str, int], Iterable[T]]
    communities: list[Community] = field(default_factory=list)
    volunteers: list[Member] = field(default_factory=list)
    residents: list[Member] = field(default_factory=list)
    staff: dict[int, dict[str, Member]] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def spec(self) -> dict[str, int]:
        return SIZES[self.size]


def person_name(rng: random.Random) -> str:
    given = rng.choice(GIVEN) + (rng.choice(GIVEN) if rng.random() < 0.7 else "")
    return rng.choice(SURNAMES) + given


def _near(rng: random.Random, lat: float, lon: float, km: float) -> tuple[float, float]:
    # ~111 km per degree of latitude; at 22.5°N a degree of longitude is ~103 km.
    return (
        round(lat + rng.uniform(-km, km) / 111.0, 6),
        round(lon + rng.uniform(-km, km) / 103.0, 6),
    )


def _birth_date(rng: random.Random, low: int, high: int) -> date:
    return date(2026 - rng.randint(low, high), rng.randint(1, 12), rng.randint(1, 28))


@transaction.atomic
def seed_people(ctx: DemoContext) -> None:
    rng = ctx.rng
    spec = ctx.spec
    password = make_password(DEMO_PASSWORD)
    communities: list[Community] = []
    for street, lat, lon, names in STREETS[: spec["streets"]]:
        for name in names[: spec["communities"]]:
            clat, clon = _near(rng, lat, lon, 0.6)
            communities.append(
                Community(
                    name=name,
                    street=street,
                    district="福田区",
                    center_lat=clat,
                    center_lon=clon,
                    residents=rng.randint(8000, 25000),
                )
            )
    ctx.communities = Community.objects.bulk_create(communities)
    first = ctx.communities[0]

    phones = iter(range(13800000100, 13899999999))
    members: list[Member] = []
    roles: list[tuple[int, Community, str]] = []

    for phone, name, role in DEMO_LOGINS:
        members.append(
            Member(
                phone=phone,
                name=name,
                password=password,
                id_verified=True,
                birth_date=_birth_date(rng, 62, 80)
                if role == "resident"
                else _birth_date(rng, 25, 50),
                home_lat=first.center_lat,
                home_lon=first.center_lon,
            )
        )
        roles.append((len(members) - 1, first, role))
    # The demo volunteer also lives there as a resident.
    roles.append((1, first, "resident"))

    for community in ctx.communities[1:]:
        for role in ("social_worker", "space_manager", "admin"):
            members.append(
                Member(
                    phone=str(next(phones)),
                    name=person_name(rng),
                    password=password,
                    id_verified=True,
                )
            )
            roles.append((len(members) - 1, community, role))

    volunteer_index: list[int] = [1]
    for _ in ctx.progress(range(spec["volunteers"]), "volunteers", spec["volunteers"]):
        community = rng.choice(ctx.communities)
        lat, lon = _near(rng, community.center_lat, community.center_lon, 1.5)
        # Retired people are a large share of community volunteers.
        age = (18, 35) if rng.random() < 0.3 else (36, 59) if rng.random() < 0.6 else (60, 75)
        members.append(
            Member(
                phone=str(next(phones)),
                name=person_name(rng),
                password=password,
                id_verified=rng.random() < 0.85,
                birth_date=_birth_date(rng, *age),
                home_lat=lat,
                home_lon=lon,
            )
        )
        volunteer_index.append(len(members) - 1)
        roles.append((len(members) - 1, community, "volunteer"))

    resident_index: list[int] = [2]
    for community in ctx.communities:
        for _ in range(spec["residents"]):
            lat, lon = _near(rng, community.center_lat, community.center_lon, 1.0)
            elder = rng.random() < 0.45
            members.append(
                Member(
                    phone=str(next(phones)) if rng.random() < 0.9 else None,
                    name=person_name(rng),
                    password=password,
                    birth_date=_birth_date(rng, *((60, 95) if elder else (20, 59))),
                    home_lat=lat,
                    home_lon=lon,
                    id_verified=rng.random() < 0.7,
                )
            )
            resident_index.append(len(members) - 1)
            roles.append((len(members) - 1, community, "resident"))

    created = Member.objects.bulk_create(members, batch_size=2000)
    Role.objects.bulk_create(
        [Role(member=created[i], community=c, role=r) for i, c, r in roles], batch_size=5000
    )
    ctx.volunteers = [created[i] for i in volunteer_index]
    ctx.residents = [created[i] for i in resident_index]
    for i, community, role in roles:
        if role in {"social_worker", "space_manager", "admin"}:
            ctx.staff.setdefault(community.id, {})[role] = created[i]
