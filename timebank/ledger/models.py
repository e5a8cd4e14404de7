"""时间银行账本 models: policy, accounts, the append-only double-entry chain, certificates.

Transfers and entries are append-only: `save()` refuses to update them,
`delete()` refuses always, the admin is read-only, and on PostgreSQL a
trigger (migration 0002) raises on UPDATE or DELETE. The only mutable ledger
rows are caches: `Account.balance_minutes`, `Holding.minutes` and `ChainHead`,
all of which `manage.py ledger verify` recomputes from the entries.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from timebank.people.models import Community

DEFAULT_CREDIT_LIMIT = 25 * 60
DEFAULT_STORAGE_CAP = 1500 * 60
DEFAULT_REDEMPTION_AGE = 60


class AppendOnlyError(RuntimeError):
    """Raised when code tries to change or remove a ledger row."""


class Mode(models.TextChoices):
    DEPOSIT_ONLY = "deposit_only", _("储蓄模式（只存不透支）")
    MUTUAL_CREDIT = "mutual_credit", _("互助信用模式（可透支）")


class GiftScope(models.TextChoices):
    RELATIVES = "relatives", _("仅限已登记亲属")
    ANYONE = "anyone", _("任何成员")


class CommunityPolicy(models.Model):
    """A community's time-bank rules (时间银行规则), edited by its admin."""

    community = models.OneToOneField(
        Community, verbose_name=_("社区"), on_delete=models.CASCADE, related_name="ledger_policy"
    )
    mode = models.CharField(
        _("模式"), max_length=20, choices=Mode.choices, default=Mode.DEPOSIT_ONLY
    )
    credit_limit_minutes = models.PositiveIntegerField(
        _("透支额度（分钟）"), default=DEFAULT_CREDIT_LIMIT
    )
    redemption_age = models.PositiveSmallIntegerField(
        _("兑换年龄（本人或配偶）"), default=DEFAULT_REDEMPTION_AGE
    )
    gift_scope = models.CharField(
        _("赠与范围"), max_length=20, choices=GiftScope.choices, default=GiftScope.RELATIVES
    )
    storage_cap_minutes = models.PositiveIntegerField(
        _("存储上限（分钟）"), default=DEFAULT_STORAGE_CAP
    )
    category_multipliers = models.JSONField(_("服务类别倍数"), default=dict, blank=True)
    updated_at = models.DateTimeField(_("更新时间"), auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("更新人"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        verbose_name = _("时间银行规则")
        verbose_name_plural = _("时间银行规则")
        constraints = [
            models.CheckConstraint(
                condition=Q(storage_cap_minutes__gt=0), name="ledger_policy_cap_positive"
            ),
            models.CheckConstraint(
                condition=Q(mode__in=[m.value for m in Mode]), name="ledger_policy_mode_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.community_id}: {self.mode}"

    def floor_minutes(self) -> int:
        """The lowest balance a personal account may reach in this community."""
        return 0 if self.mode == Mode.DEPOSIT_ONLY else -int(self.credit_limit_minutes)


class AccountKind(models.TextChoices):
    PERSONAL = "personal", _("个人账户")
    ISSUING = "issuing", _("社区发行账户")
    POOL = "pool", _("社区公益池")


class Account(models.Model):
    """A ledger account. Personal accounts are valid in every community (通存通兑);
    each community has one issuing account (mints hours for verified service,
    so its balance is minus everything it has issued) and one donation pool.

    `balance_minutes` is a cache of the sum of the account's entries, written
    only by the ledger services under `select_for_update`. `floor_minutes` is
    the lowest balance allowed, set from the community policy when the account
    is debited; the issuing account has no floor.
    """

    kind = models.CharField(_("类型"), max_length=10, choices=AccountKind.choices)
    member = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        verbose_name=_("成员"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="ledger_account",
    )
    community = models.ForeignKey(
        Community,
        verbose_name=_("社区"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="ledger_accounts",
    )
    balance_minutes = models.BigIntegerField(_("余额（分钟）"), default=0)
    floor_minutes = models.BigIntegerField(_("余额下限（分钟）"), null=True, blank=True)
    created_at = models.DateTimeField(_("开户时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("账户")
        verbose_name_plural = _("账户")
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(kind=AccountKind.PERSONAL, member__isnull=False, community__isnull=True)
                    | Q(
                        kind__in=[AccountKind.ISSUING, AccountKind.POOL],
                        member__isnull=True,
                        community__isnull=False,
                    )
                ),
                name="ledger_account_owner_matches_kind",
            ),
            models.UniqueConstraint(
                fields=["community", "kind"],
                condition=Q(community__isnull=False),
                name="ledger_account_one_per_community_kind",
            ),
            # The balance guard: deposit-only accounts have floor 0, mutual
            # credit accounts minus the credit limit, and pools 0.
            models.CheckConstraint(
                condition=Q(floor_minutes__isnull=True)
                | Q(balance_minutes__gte=F("floor_minutes")),
                name="ledger_account_balance_above_floor",
            ),
            models.CheckConstraint(
                condition=(
                    Q(kind=AccountKind.ISSUING, floor_minutes__isnull=True)
                    | Q(kind=AccountKind.POOL, floor_minutes=0)
                    | Q(kind=AccountKind.PERSONAL, floor_minutes__lte=0)
                ),
                name="ledger_account_floor_matches_kind",
            ),
        ]

    def __str__(self) -> str:
        if self.kind == AccountKind.PERSONAL:
            return f"{self.get_kind_display()} · {self.member_id}"
        return f"{self.get_kind_display()} · {self.community_id}"


class Holding(models.Model):
    """How many of an account's minutes were issued by each community: the
    basis of clearing between communities (通存通兑). A cache of the sum of the
    account's entries per origin; may be negative per origin in mutual credit."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="holdings")
    origin = models.ForeignKey(Community, on_delete=models.PROTECT, related_name="+")
    minutes = models.BigIntegerField(default=0)

    class Meta:
        verbose_name = _("按发行社区的持有量")
        verbose_name_plural = _("按发行社区的持有量")
        constraints = [
            models.UniqueConstraint(fields=["account", "origin"], name="ledger_holding_unique")
        ]

    def __str__(self) -> str:
        return f"{self.account_id}@{self.origin_id}: {self.minutes}"


class TransferKind(models.TextChoices):
    EARN = "earn", _("服务所得")
    GIFT = "gift", _("赠与")
    DONATE = "donate", _("捐赠")
    REDEEM = "redeem", _("兑换服务")
    GRANT = "grant", _("公益池划拨")
    REVERSE = "reverse", _("冲正")
    OVERFLOW = "overflow", _("超出存储上限转入公益池")


class AppendOnlyModel(models.Model):
    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise AppendOnlyError(f"{type(self).__name__} rows are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise AppendOnlyError(f"{type(self).__name__} rows are append-only")


class Transfer(AppendOnlyModel):
    """One movement of hours (时间银行转账), with two or more entries summing to zero.

    `seq` is the position in the hash chain; `hash` is
    sha256(prev_hash + canonical content) — see `timebank.ledger.chain`.
    """

    seq = models.BigIntegerField(_("链序号"), unique=True)
    kind = models.CharField(_("类型"), max_length=10, choices=TransferKind.choices)
    community = models.ForeignKey(
        Community, verbose_name=_("社区"), on_delete=models.PROTECT, related_name="+"
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("操作人"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    memo = models.CharField(_("备注"), max_length=200, blank=True)
    category = models.CharField(_("服务类别"), max_length=50, blank=True)
    created_at = models.DateTimeField(_("时间"))
    idempotency_key = models.CharField(
        _("幂等键"), max_length=300, null=True, blank=True, unique=True
    )
    reverses = models.OneToOneField(
        "self",
        verbose_name=_("冲正的转账"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="reversed_by",
    )
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    class Meta:
        verbose_name = _("转账")
        verbose_name_plural = _("转账")
        indexes = [models.Index(fields=["community", "kind", "created_at"], name="ledger_tr_ck")]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=[k.value for k in TransferKind]), name="ledger_tr_kind_valid"
            ),
            models.CheckConstraint(
                condition=Q(kind=TransferKind.REVERSE, reverses__isnull=False)
                | (~Q(kind=TransferKind.REVERSE) & Q(reverses__isnull=True)),
                name="ledger_tr_reverse_has_target",
            ),
            models.CheckConstraint(condition=Q(seq__gte=1), name="ledger_tr_seq_positive"),
        ]

    def __str__(self) -> str:
        return f"#{self.seq} {self.kind}"


class Entry(AppendOnlyModel):
    """One signed leg of a transfer, in whole minutes. `origin` is the community
    that issued these minutes; `balance_after` is the account's running balance."""

    transfer = models.ForeignKey(Transfer, on_delete=models.PROTECT, related_name="entries")
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="entries")
    origin = models.ForeignKey(Community, on_delete=models.PROTECT, related_name="+")
    minutes = models.BigIntegerField(_("分钟"))
    balance_after = models.BigIntegerField(_("变动后余额"))

    class Meta:
        verbose_name = _("分录")
        verbose_name_plural = _("分录")
        constraints = [
            models.CheckConstraint(condition=~Q(minutes=0), name="ledger_entry_nonzero"),
        ]
        indexes = [models.Index(fields=["account", "id"], name="ledger_entry_account")]

    def __str__(self) -> str:
        return f"{self.account_id}: {self.minutes:+d}"


class ChainHead(models.Model):
    """The singleton tip of the hash chain. Locking it serialises appends, so
    concurrent transfers never fork the chain."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    seq = models.BigIntegerField(default=0)
    hash = models.CharField(max_length=64)

    class Meta:
        verbose_name = _("哈希链头")
        verbose_name_plural = _("哈希链头")
        constraints = [models.CheckConstraint(condition=Q(id=1), name="ledger_chain_singleton")]

    def __str__(self) -> str:
        return f"#{self.seq} {self.hash[:12]}"


class Certificate(models.Model):
    """A numbered certificate of verified service (志愿服务证明), issued by the
    community that recorded the service (谁记录谁证明)."""

    number = models.CharField(_("编号"), max_length=32, unique=True)
    volunteer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("志愿者"),
        on_delete=models.PROTECT,
        related_name="ledger_certificates",
    )
    issuer = models.ForeignKey(
        Community, verbose_name=_("出具社区"), on_delete=models.PROTECT, related_name="+"
    )
    period_start = models.DateField(_("起始日期"))
    period_end = models.DateField(_("截止日期"))
    minutes = models.PositiveIntegerField(_("服务时长（分钟）"))
    items = models.JSONField(_("服务明细"), default=list)
    issued_at = models.DateTimeField(_("出具时间"))
    revoked_at = models.DateTimeField(_("撤销时间"), null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("撤销人"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    revoke_reason = models.CharField(_("撤销原因"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("志愿服务证明")
        verbose_name_plural = _("志愿服务证明")
        constraints = [
            models.CheckConstraint(
                condition=Q(period_start__lte=F("period_end")), name="ledger_cert_period_ordered"
            ),
            models.CheckConstraint(
                condition=Q(minutes__gte=0), name="ledger_cert_minutes_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return self.number
