"""Communities (社区), members, roles per community, relatives and API tokens."""

from __future__ import annotations

from typing import Any, ClassVar

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

PHONE_RE = r"^1[3-9][0-9]{9}$"
phone_validator = RegexValidator(PHONE_RE, _("请输入11位中国大陆手机号码"), code="invalid_phone")


class Community(models.Model):
    """A community (社区) inside a street (街道) of a district (区)."""

    name = models.CharField(_("名称"), max_length=100)
    street = models.CharField(_("街道"), max_length=100)
    district = models.CharField(_("区"), max_length=100)
    center_lat = models.FloatField(
        _("中心纬度"), validators=[MinValueValidator(-90), MaxValueValidator(90)]
    )
    center_lon = models.FloatField(
        _("中心经度"), validators=[MinValueValidator(-180), MaxValueValidator(180)]
    )
    residents = models.PositiveIntegerField(_("常住人口"), default=0)
    # Community policy: a re-plan after a cancellation confirms its proposals at once
    # instead of waiting for a social worker to apply them.
    matching_auto_confirm = models.BooleanField(_("自动采纳重排建议"), default=False)
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("社区")
        verbose_name_plural = _("社区")
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["district", "street", "name"], name="community_unique"),
            models.CheckConstraint(
                condition=Q(center_lat__gte=-90, center_lat__lte=90)
                & Q(center_lon__gte=-180, center_lon__lte=180),
                name="community_center_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.district}{self.street}{self.name}"


class MemberManager(BaseUserManager["Member"]):
    use_in_migrations = True

    def create_user(self, phone: str | None, password: str | None = None, **extra: Any) -> Member:
        member = self.model(phone=phone or None, **extra)
        if password:
            member.set_password(password)
        else:
            member.set_unusable_password()
        member.full_clean(exclude=["password"])
        member.save(using=self._db)
        return member

    def create_superuser(self, phone: str, password: str | None = None, **extra: Any) -> Member:
        extra.setdefault("name", "管理员")
        extra["is_staff"] = True
        extra["is_superuser"] = True
        return self.create_user(phone, password, **extra)


class Member(AbstractBaseUser, PermissionsMixin):
    """A person. The username is a mainland mobile number.

    People without a phone of their own are registered by staff (帮办代办); they
    have no phone and cannot log in until one is added.
    """

    phone = models.CharField(
        _("手机号"), max_length=11, unique=True, null=True, blank=True, validators=[phone_validator]
    )
    name = models.CharField(_("姓名"), max_length=50)
    birth_date = models.DateField(_("出生日期"), null=True, blank=True)
    id_verified = models.BooleanField(_("已实名认证"), default=False)
    home_lat = models.FloatField(
        _("住址纬度"),
        null=True,
        blank=True,
        validators=[MinValueValidator(-90), MaxValueValidator(90)],
    )
    home_lon = models.FloatField(
        _("住址经度"),
        null=True,
        blank=True,
        validators=[MinValueValidator(-180), MaxValueValidator(180)],
    )
    registered_by = models.ForeignKey(
        "self",
        verbose_name=_("代办登记人"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="proxy_registrations",
    )
    elder_mode = models.BooleanField(
        _("长者模式"), default=False, help_text=_("更大的字号和更高的对比度")
    )
    is_active = models.BooleanField(_("有效"), default=True)
    # Set when the member asked to be deleted (PIPL 删除权): name and phone are
    # anonymised, the ledger history stays (balanced, under the anonymous account).
    erased_at = models.DateTimeField(_("注销时间"), null=True, blank=True)
    is_staff = models.BooleanField(_("可进入后台"), default=False)
    date_joined = models.DateTimeField(_("加入时间"), default=timezone.now)

    objects: ClassVar[MemberManager] = MemberManager()

    USERNAME_FIELD = "phone"
    # Empty, so `createsuperuser --noinput` needs only DJANGO_SUPERUSER_PHONE and _PASSWORD.
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    class Meta:
        verbose_name = _("成员")
        verbose_name_plural = _("成员")
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.masked_phone})"

    @property
    def masked_phone(self) -> str:
        if not self.phone:
            return ""
        return f"{self.phone[:3]}****{self.phone[-4:]}"

    @property
    def has_phone(self) -> bool:
        return bool(self.phone)

    def age_on(self, day: Any) -> int | None:
        if self.birth_date is None:
            return None
        born = self.birth_date
        return int(day.year - born.year - ((day.month, day.day) < (born.month, born.day)))


class RoleName(models.TextChoices):
    VOLUNTEER = "volunteer", _("志愿者")
    RESIDENT = "resident", _("居民")
    SOCIAL_WORKER = "social_worker", _("社工")
    SPACE_MANAGER = "space_manager", _("场地管理员")
    ADMIN = "admin", _("社区管理员")


STAFF_ROLES = frozenset({RoleName.SOCIAL_WORKER, RoleName.SPACE_MANAGER, RoleName.ADMIN})


class Role(models.Model):
    """A member's role in one community."""

    member = models.ForeignKey(
        Member, verbose_name=_("成员"), on_delete=models.CASCADE, related_name="roles"
    )
    community = models.ForeignKey(
        Community, verbose_name=_("社区"), on_delete=models.CASCADE, related_name="roles"
    )
    role = models.CharField(_("角色"), max_length=20, choices=RoleName.choices)
    granted_by = models.ForeignKey(
        Member,
        verbose_name=_("授予人"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    granted_at = models.DateTimeField(_("授予时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("角色")
        verbose_name_plural = _("角色")
        constraints = [
            models.UniqueConstraint(fields=["member", "community", "role"], name="role_unique")
        ]

    def __str__(self) -> str:
        return f"{self.member_id}@{self.community_id}:{self.role}"


class RelationKind(models.TextChoices):
    SPOUSE = "spouse", _("配偶")
    PARENT = "parent", _("父母")
    CHILD = "child", _("子女")
    GRANDPARENT = "grandparent", _("祖父母/外祖父母")
    GRANDCHILD = "grandchild", _("孙子女/外孙子女")
    SIBLING = "sibling", _("兄弟姐妹")


INVERSE_RELATION: dict[str, str] = {
    RelationKind.SPOUSE: RelationKind.SPOUSE,
    RelationKind.SIBLING: RelationKind.SIBLING,
    RelationKind.PARENT: RelationKind.CHILD,
    RelationKind.CHILD: RelationKind.PARENT,
    RelationKind.GRANDPARENT: RelationKind.GRANDCHILD,
    RelationKind.GRANDCHILD: RelationKind.GRANDPARENT,
}


class Relation(models.Model):
    """`relative` is `member`'s <relation> (亲属关系), recorded by staff.

    Both directions are stored, so "is B a relative of A" is one lookup.
    """

    member = models.ForeignKey(
        Member, verbose_name=_("成员"), on_delete=models.CASCADE, related_name="relations"
    )
    relative = models.ForeignKey(
        Member, verbose_name=_("亲属"), on_delete=models.CASCADE, related_name="+"
    )
    relation = models.CharField(_("关系"), max_length=20, choices=RelationKind.choices)
    recorded_by = models.ForeignKey(
        Member,
        verbose_name=_("登记人"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    community = models.ForeignKey(
        Community, verbose_name=_("登记社区"), on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(_("登记时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("亲属关系")
        verbose_name_plural = _("亲属关系")
        constraints = [
            models.UniqueConstraint(fields=["member", "relative"], name="relation_unique"),
            models.CheckConstraint(
                condition=~Q(member=models.F("relative")), name="relation_not_self"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.member_id} → {self.relative_id}: {self.relation}"


class ApiToken(models.Model):
    """A bearer token. Only its SHA-256 is stored; the token itself is shown once."""

    member = models.ForeignKey(
        Member, verbose_name=_("成员"), on_delete=models.CASCADE, related_name="tokens"
    )
    key_hash = models.CharField(max_length=64, unique=True)
    prefix = models.CharField(_("前缀"), max_length=8)
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)
    expires_at = models.DateTimeField(_("过期时间"))
    revoked_at = models.DateTimeField(_("撤销时间"), null=True, blank=True)
    last_used_at = models.DateTimeField(_("最近使用"), null=True, blank=True)

    class Meta:
        verbose_name = _("访问令牌")
        verbose_name_plural = _("访问令牌")

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.member_id})"

    def is_live(self, now: Any = None) -> bool:
        now = now or timezone.now()
        return self.revoked_at is None and self.expires_at > now


def settings_token_ttl_hours() -> int:
    return int(settings.TOKEN_TTL_HOURS)
