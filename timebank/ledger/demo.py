"""Demo hours: the demo volunteer has a few months of credited service, and is
recorded as the demo elder's child, so gifts and certificates can be tried."""

from __future__ import annotations

from typing import TYPE_CHECKING

from timebank.ledger.services import transfer_earn
from timebank.people.models import Member
from timebank.people.services import relation_record

if TYPE_CHECKING:
    from timebank.demo import DemoContext

SERVICES = [
    (120, "elder_care", "独居长者上门探访"),
    (90, "tutoring", "四点半课堂作业辅导"),
    (180, "escort", "陪同长者到医院复诊"),
    (60, "cleanup", "小区公共区域清洁"),
]


def seed(ctx: DemoContext) -> None:
    volunteer = Member.objects.get(phone="13800000002")
    elder = Member.objects.get(phone="13800000003")
    community = ctx.communities[0]
    worker = ctx.staff[community.id]["social_worker"]
    relation_record(
        actor=worker, community=community, member=elder, relative=volunteer, relation="child"
    )
    for n, (minutes, category, memo) in enumerate(SERVICES):
        transfer_earn(
            community=community,
            volunteer=volunteer,
            minutes=minutes,
            actor=worker,
            assignment_key=f"demo-{n}",
            memo=memo,
            category=category,
        )
