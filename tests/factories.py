"""factory_boy factories for the core models."""

from __future__ import annotations

import factory

from timebank.people.models import Community, Member, Relation, Role

DEFAULT_PASSWORD = "长城-Kite-2026!"


class CommunityFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Community

    name = factory.Sequence(lambda n: f"莲花{n}社区")
    street = "莲花街道"
    district = "福田区"
    center_lat = 22.5520
    center_lon = 114.0560
    residents = 12000


class MemberFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Member
        skip_postgeneration_save = True

    phone = factory.Sequence(lambda n: f"138{n:08d}")
    name = factory.Sequence(lambda n: f"成员{n}")
    home_lat = 22.5500
    home_lon = 114.0570
    password = factory.PostGenerationMethodCall("set_password", DEFAULT_PASSWORD)

    @factory.post_generation
    def _save(obj: Member, create: bool, extracted: object, **kwargs: object) -> None:
        if create:
            obj.save()


class RoleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Role

    member = factory.SubFactory(MemberFactory)
    community = factory.SubFactory(CommunityFactory)
    role = "volunteer"


def member_with_roles(community: Community, *roles: str, **kwargs: object) -> Member:
    member: Member = MemberFactory(**kwargs)
    for role in roles:
        Role.objects.create(member=member, community=community, role=role)
    return member


__all__ = [
    "DEFAULT_PASSWORD",
    "CommunityFactory",
    "MemberFactory",
    "Relation",
    "RoleFactory",
    "member_with_roles",
]
