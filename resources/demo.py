"""Demo spaces: per community, a school's pitch (two halves, open outside teaching
time), a basketball court, a centre meeting room, and a fitness room booked by
headcount sessions."""

from __future__ import annotations

from typing import TYPE_CHECKING

from resources import services

if TYPE_CHECKING:
    from timebank.demo import DemoContext

SAFETY_TERMS = "请穿运动鞋，爱护场地设施；未成年人须由监护人陪同；离场时带走垃圾。"


def seed(ctx: DemoContext) -> None:
    spaces = []
    for community in ctx.communities:
        manager = ctx.staff.get(community.id, {}).get("space_manager")
        if manager is None:
            continue
        lat, lon = community.center_lat, community.center_lon
        short = community.name.removesuffix("社区")
        pitch = services.space_create(
            actor=manager,
            community=community,
            name=f"{short}小学足球场",
            kind="sports_field",
            owner_type="school",
            mode="exclusive",
            capacity=22,
            lat=lat + 0.002,
            lon=lon - 0.001,
            address=f"{short}小学操场",
            opening_template="outside_teaching_time",
            rules={"terms": SAFETY_TERMS, "booking_window_days": 7},
        )
        for half in ("A", "B"):
            services.space_create(
                actor=manager,
                community=community,
                name=f"{short}小学足球场{half}半场",
                kind="sports_field",
                owner_type="school",
                mode="exclusive",
                capacity=11,
                lat=lat + 0.002,
                lon=lon - 0.001,
                parent_id=pitch.pk,
                rules={"terms": SAFETY_TERMS},
            )
        services.space_create(
            actor=manager,
            community=community,
            name=f"{short}篮球场",
            kind="court",
            owner_type="other",
            mode="exclusive",
            capacity=12,
            lat=lat - 0.001,
            lon=lon + 0.002,
            rules={"terms": SAFETY_TERMS},
        )
        services.space_create(
            actor=manager,
            community=community,
            name=f"{short}党群服务中心活动室",
            kind="room",
            owner_type="service_centre",
            mode="exclusive",
            capacity=30,
            lat=lat,
            lon=lon,
            address=f"{community.name}党群服务中心二楼",
            features=["projector", "accessible"],
        )
        gym = services.space_create(
            actor=manager,
            community=community,
            name=f"{short}健身室",
            kind="room",
            owner_type="service_centre",
            mode="session",
            capacity=25,
            lat=lat,
            lon=lon,
            address=f"{community.name}党群服务中心一楼",
            rules={"terms": SAFETY_TERMS},
        )
        spaces.append(gym)
    ctx.extra["spaces"] = spaces
