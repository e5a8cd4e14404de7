"""共享空间 models: spaces and their sub-areas, opening rules, reservations,
the blocks that make double booking impossible, sessions, waitlists,
suspensions and weekly allocation rounds.

How double booking is excluded (PostgreSQL, see migration 0002):

- An exclusive reservation writes one `SpaceBlock` per affected area in its
  own transaction: an *own* block on the booked area and a *shadow* block on
  every ancestor (a half pitch shadows the full pitch).
- Two exclusion constraints over `(area, tstzrange(start, end, '[)'))` on
  active blocks: own vs own on the same area conflict, and own vs shadow on
  the same area conflict. Shadow vs shadow does not, so the two halves of a
  pitch can be booked at once, while either half blocks the full pitch (its
  shadow meets the full pitch's own block) and the full pitch blocks both
  halves (the same meeting, seen from the other side).
- Two areas overlap exactly when one is an ancestor-or-self of the other, and
  then one of the two reservations writes a block on the upper area that
  meets the other's own block. So the constraints reject every overlap.
- Parents are fixed at creation, so a tree never grows a new ancestor above
  existing reservations.
"""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from timebank.people.models import Community


class SpaceKind(models.TextChoices):
    SPORTS_FIELD = "sports_field", _("运动场")
    COURT = "court", _("球场")
    TRACK = "track", _("跑道")
    ROOM = "room", _("活动室")
    HALL = "hall", _("礼堂")


class OwnerType(models.TextChoices):
    SCHOOL = "school", _("学校")
    SERVICE_CENTRE = "service_centre", _("党群服务中心")
    OTHER = "other", _("其他")


class SpaceMode(models.TextChoices):
    EXCLUSIVE = "exclusive", _("整场包场")
    SESSION = "session", _("按人次入场")


# Reservations never last longer than a day, so a read for one week needs only
# the blocks that start at most a day before it: the (area, start) index
# answers that without scanning history.
MAX_DURATION_MINUTES = 24 * 60


class Space(models.Model):
    """A bookable space (共享空间) or a sub-area of one (a half pitch)."""

    community = models.ForeignKey(
        Community, verbose_name=_("社区"), on_delete=models.PROTECT, related_name="spaces"
    )
    parent = models.ForeignKey(
        "self",
        verbose_name=_("上级场地"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="children",
    )
    name = models.CharField(_("名称"), max_length=100)
    kind = models.CharField(_("类型"), max_length=20, choices=SpaceKind.choices)
    owner_type = models.CharField(
        _("产权方"), max_length=20, choices=OwnerType.choices, default=OwnerType.OTHER
    )
    mode = models.CharField(_("预约方式"), max_length=20, choices=SpaceMode.choices)
    capacity = models.PositiveIntegerField(_("容量（人）"), validators=[MinValueValidator(1)])
    lat = models.FloatField(_("纬度"), validators=[MinValueValidator(-90), MaxValueValidator(90)])
    lon = models.FloatField(_("经度"), validators=[MinValueValidator(-180), MaxValueValidator(180)])
    address = models.CharField(_("地址"), max_length=200, blank=True)
    features = models.JSONField(_("设施"), default=list, blank=True)
    is_active = models.BooleanField(_("开放预约"), default=True)
    # --- booking rules (预约规则); every one has the product's default ---
    slot_minutes = models.PositiveIntegerField(_("时段长度（分钟）"), default=60)
    booking_window_days = models.PositiveIntegerField(_("提前预约天数"), default=7)
    early_access_days = models.PositiveIntegerField(_("本社区居民优先天数"), default=0)
    min_duration_minutes = models.PositiveIntegerField(_("最短时长（分钟）"), default=60)
    max_duration_minutes = models.PositiveIntegerField(_("最长时长（分钟）"), default=120)
    weekly_quota_bookings = models.PositiveIntegerField(
        _("每人每周预约次数上限"), null=True, blank=True
    )
    weekly_quota_minutes = models.PositiveIntegerField(
        _("每人每周预约时长上限（分钟）"), null=True, blank=True
    )
    max_active_bookings = models.PositiveIntegerField(
        _("每人未来有效预约上限"), null=True, blank=True
    )
    approval_required = models.BooleanField(_("需要审批"), default=False)
    companions_real_name = models.BooleanField(_("同行人须实名"), default=True)
    minors_need_guardian = models.BooleanField(_("未成年人须监护人"), default=True)
    terms = models.TextField(_("安全协议"), blank=True)
    hold_minutes = models.PositiveIntegerField(_("锁定时长（分钟）"), default=10)
    check_in_grace_minutes = models.PositiveIntegerField(_("迟到释放（分钟）"), default=15)
    cancel_deadline_minutes = models.PositiveIntegerField(_("取消截止（开始前分钟）"), default=60)
    no_show_limit = models.PositiveIntegerField(_("爽约次数上限"), default=2)
    no_show_window_days = models.PositiveIntegerField(_("爽约统计天数"), default=30)
    suspension_days = models.PositiveIntegerField(_("停约天数"), default=14)
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("共享空间")
        verbose_name_plural = _("共享空间")
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(condition=Q(capacity__gte=1), name="space_capacity_positive"),
            models.CheckConstraint(
                condition=Q(slot_minutes__gte=5) & Q(slot_minutes__lte=MAX_DURATION_MINUTES),
                name="space_slot_minutes_range",
            ),
            models.CheckConstraint(
                condition=Q(min_duration_minutes__gte=1)
                & Q(min_duration_minutes__lte=models.F("max_duration_minutes"))
                & Q(max_duration_minutes__lte=MAX_DURATION_MINUTES),
                name="space_duration_range",
            ),
            models.CheckConstraint(
                condition=Q(booking_window_days__gte=1) & Q(booking_window_days__lte=90),
                name="space_booking_window_range",
            ),
            models.CheckConstraint(
                condition=~Q(parent=models.F("id")), name="space_parent_not_self"
            ),
            models.CheckConstraint(
                condition=Q(lat__gte=-90, lat__lte=90) & Q(lon__gte=-180, lon__lte=180),
                name="space_location_range",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Season(models.TextChoices):
    ANY = "any", _("全年")
    TERM = "term", _("学期")
    HOLIDAY = "holiday", _("假期")


class SeasonPeriod(models.Model):
    """A date range that is term or holiday (学期/假期). Days covered by no period
    count as term."""

    space = models.ForeignKey(
        Space, verbose_name=_("场地"), on_delete=models.CASCADE, related_name="seasons"
    )
    name = models.CharField(_("名称"), max_length=50, blank=True)
    season = models.CharField(
        _("类型"),
        max_length=10,
        choices=[(Season.TERM, Season.TERM.label), (Season.HOLIDAY, Season.HOLIDAY.label)],
    )
    start_date = models.DateField(_("开始日期"))
    end_date = models.DateField(_("结束日期"))

    class Meta:
        verbose_name = _("学期/假期")
        verbose_name_plural = _("学期/假期")
        ordering = ["start_date"]
        constraints = [
            models.CheckConstraint(
                condition=Q(end_date__gte=models.F("start_date")), name="season_dates_ordered"
            )
        ]

    def __str__(self) -> str:
        return f"{self.name or self.season} {self.start_date}–{self.end_date}"


class OpeningWindow(models.Model):
    """A weekly opening window (开放时段), in Asia/Shanghai wall-clock time."""

    space = models.ForeignKey(
        Space, verbose_name=_("场地"), on_delete=models.CASCADE, related_name="windows"
    )
    weekday = models.PositiveSmallIntegerField(
        _("星期（1=周一…7=周日）"), validators=[MinValueValidator(1), MaxValueValidator(7)]
    )
    start_time = models.TimeField(_("开始"))
    end_time = models.TimeField(_("结束"))
    season = models.CharField(_("适用"), max_length=10, choices=Season.choices, default="any")

    class Meta:
        verbose_name = _("开放时段")
        verbose_name_plural = _("开放时段")
        ordering = ["weekday", "start_time"]
        constraints = [
            models.CheckConstraint(
                condition=Q(end_time__gt=models.F("start_time")), name="window_times_ordered"
            ),
            models.CheckConstraint(
                condition=Q(weekday__gte=1, weekday__lte=7), name="window_weekday_range"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.weekday} {self.start_time}–{self.end_time} ({self.season})"


class ClosureReason(models.TextChoices):
    EXAM = "exam", _("考试")
    MAINTENANCE = "maintenance", _("维修保养")
    HOLIDAY = "holiday", _("假期")
    EVENT = "event", _("活动")
    OTHER = "other", _("其他")


class Closure(models.Model):
    """A closure or blackout (临时关闭); it closes the space and its sub-areas."""

    space = models.ForeignKey(
        Space, verbose_name=_("场地"), on_delete=models.CASCADE, related_name="closures"
    )
    start = models.DateTimeField(_("开始"))
    end = models.DateTimeField(_("结束"))
    reason = models.CharField(_("原因"), max_length=20, choices=ClosureReason.choices)
    note = models.CharField(_("说明"), max_length=200, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("设置人"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("关闭时段")
        verbose_name_plural = _("关闭时段")
        ordering = ["start"]
        indexes = [models.Index(fields=["space", "start"], name="closure_space_start")]
        constraints = [
            models.CheckConstraint(
                condition=Q(end__gt=models.F("start")), name="closure_period_ordered"
            )
        ]

    def __str__(self) -> str:
        return f"{self.space_id} {self.reason} {self.start:%Y-%m-%d %H:%M}"


class SessionSlot(models.Model):
    """One headcount session (场次) of a session-mode space: seats are taken with a
    conditional UPDATE, and the check constraint is the last line of defence."""

    space = models.ForeignKey(
        Space, verbose_name=_("场地"), on_delete=models.CASCADE, related_name="sessions"
    )
    start = models.DateTimeField(_("开始"))
    end = models.DateTimeField(_("结束"))
    capacity = models.PositiveIntegerField(_("名额"))
    booked = models.PositiveIntegerField(_("已订"), default=0)

    class Meta:
        verbose_name = _("场次")
        verbose_name_plural = _("场次")
        constraints = [
            models.UniqueConstraint(fields=["space", "start"], name="session_slot_unique"),
            models.CheckConstraint(
                condition=Q(booked__gte=0) & Q(booked__lte=models.F("capacity")),
                name="session_slot_within_capacity",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.space_id} {self.start:%Y-%m-%d %H:%M} {self.booked}/{self.capacity}"


class ReservationStatus(models.TextChoices):
    HELD = "held", _("锁定中")
    PENDING = "pending", _("待审批")
    CONFIRMED = "confirmed", _("已确认")
    CHECKED_IN = "checked_in", _("已签到")
    CANCELLED = "cancelled", _("已取消")
    REJECTED = "rejected", _("未通过")
    EXPIRED = "expired", _("已过期")
    RELEASED = "released", _("已释放")


# The statuses that occupy the space: holds and pending approvals included.
ACTIVE_STATUSES = (
    ReservationStatus.HELD,
    ReservationStatus.PENDING,
    ReservationStatus.CONFIRMED,
    ReservationStatus.CHECKED_IN,
)


class Reservation(models.Model):
    """A reservation (预约) of a space by a member, for a party."""

    space = models.ForeignKey(
        Space, verbose_name=_("场地"), on_delete=models.PROTECT, related_name="reservations"
    )
    member = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("预约人"),
        on_delete=models.PROTECT,
        related_name="reservations",
    )
    session = models.ForeignKey(
        SessionSlot,
        verbose_name=_("场次"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="reservations",
    )
    start = models.DateTimeField(_("开始"))
    end = models.DateTimeField(_("结束"))
    party_size = models.PositiveIntegerField(_("人数"), default=1)
    companions = models.JSONField(_("同行人"), default=list, blank=True)
    guardian = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("监护人"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    status = models.CharField(_("状态"), max_length=20, choices=ReservationStatus.choices)
    # When an active reservation stops occupying the space unless something
    # happens first: a hold's expiry, or start + grace for an unchecked booking.
    # Reads treat a passed `live_until` as free, so correctness never waits for
    # the worker that releases it.
    live_until = models.DateTimeField(_("失效时间"), null=True, blank=True)
    terms_accepted_at = models.DateTimeField(_("同意安全协议时间"), null=True, blank=True)
    purpose = models.CharField(_("用途"), max_length=200, blank=True)
    need_shift_id = models.BigIntegerField(_("关联服务班次"), null=True, blank=True)
    no_show = models.BooleanField(_("爽约"), default=False)
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)
    confirmed_at = models.DateTimeField(_("确认时间"), null=True, blank=True)
    checked_in_at = models.DateTimeField(_("签到时间"), null=True, blank=True)
    ended_at = models.DateTimeField(_("结束处理时间"), null=True, blank=True)
    handled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("处理人"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        verbose_name = _("预约")
        verbose_name_plural = _("预约")
        ordering = ["id"]
        indexes = [
            models.Index(fields=["space", "start"], name="reservation_space_start"),
            models.Index(fields=["member", "start"], name="reservation_member_start"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(end__gt=models.F("start")), name="reservation_period_ordered"
            ),
            models.CheckConstraint(
                condition=Q(party_size__gte=1), name="reservation_party_positive"
            ),
            models.UniqueConstraint(
                fields=["member", "space", "start"],
                condition=Q(status__in=ACTIVE_STATUSES),
                name="reservation_one_active_per_member_start",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.space_id} {self.start:%Y-%m-%d %H:%M} {self.status}"

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES


class BlockKind(models.IntegerChoices):
    OWN = 0, _("本场地")
    SHADOW = 1, _("上级场地")


class SpaceBlock(models.Model):
    """The time an exclusive reservation takes on one area. See the module
    docstring for why own and shadow blocks exclude every overlap."""

    reservation = models.ForeignKey(
        Reservation, verbose_name=_("预约"), on_delete=models.CASCADE, related_name="blocks"
    )
    # Indexed by `block_live_area_start` below (area first), not on its own.
    area = models.ForeignKey(
        Space,
        verbose_name=_("场地"),
        on_delete=models.PROTECT,
        related_name="blocks",
        db_index=False,
    )
    start = models.DateTimeField(_("开始"))
    end = models.DateTimeField(_("结束"))
    kind = models.PositiveSmallIntegerField(_("类型"), choices=BlockKind.choices)
    active = models.BooleanField(_("占用中"), default=True)
    live_until = models.DateTimeField(_("失效时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("占用")
        verbose_name_plural = _("占用")
        indexes = [
            # The availability read: live blocks of one area, by start. The
            # extra columns let PostgreSQL answer from the index alone.
            models.Index(
                fields=["area", "start"],
                name="block_live_area_start",
                condition=Q(active=True),
                include=["end", "kind", "live_until"],
            )
        ]
        constraints = [
            models.CheckConstraint(condition=Q(end__gt=models.F("start")), name="block_ordered"),
            models.UniqueConstraint(fields=["reservation", "area"], name="block_once_per_area"),
        ]

    def __str__(self) -> str:
        return f"{self.area_id} {self.start:%Y-%m-%d %H:%M} ({self.kind})"


class Suspension(models.Model):
    """Booking suspended in a community after repeated no-shows (爽约停约)."""

    member = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("成员"),
        on_delete=models.CASCADE,
        related_name="space_suspensions",
    )
    community = models.ForeignKey(
        Community, verbose_name=_("社区"), on_delete=models.CASCADE, related_name="+"
    )
    starts_at = models.DateTimeField(_("开始"))
    ends_at = models.DateTimeField(_("结束"))
    reason = models.CharField(_("原因"), max_length=200)

    class Meta:
        verbose_name = _("停约")
        verbose_name_plural = _("停约")
        indexes = [models.Index(fields=["member", "ends_at"], name="suspension_member_end")]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_at__gt=models.F("starts_at")), name="suspension_ordered"
            )
        ]

    def __str__(self) -> str:
        return f"{self.member_id}@{self.community_id} until {self.ends_at:%Y-%m-%d}"


class WaitlistStatus(models.TextChoices):
    WAITING = "waiting", _("等候中")
    OFFERED = "offered", _("已递补锁定")
    ACCEPTED = "accepted", _("已接受")
    LAPSED = "lapsed", _("已失效")
    CANCELLED = "cancelled", _("已取消")


class WaitlistEntry(models.Model):
    """A place in the queue (候补) for one period of one space."""

    space = models.ForeignKey(
        Space, verbose_name=_("场地"), on_delete=models.CASCADE, related_name="waitlist"
    )
    member = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("成员"),
        on_delete=models.CASCADE,
        related_name="space_waitlist",
    )
    start = models.DateTimeField(_("开始"))
    end = models.DateTimeField(_("结束"))
    party_size = models.PositiveIntegerField(_("人数"), default=1)
    status = models.CharField(
        _("状态"), max_length=20, choices=WaitlistStatus.choices, default="waiting"
    )
    offer = models.ForeignKey(
        Reservation,
        verbose_name=_("递补的锁定"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(_("加入时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("候补")
        verbose_name_plural = _("候补")
        ordering = ["id"]
        indexes = [models.Index(fields=["space", "start"], name="waitlist_space_start")]
        constraints = [
            models.CheckConstraint(
                condition=Q(end__gt=models.F("start")), name="waitlist_period_ordered"
            ),
            models.UniqueConstraint(
                fields=["space", "member", "start", "end"],
                condition=Q(status__in=["waiting", "offered"]),
                name="waitlist_once_per_period",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.member_id} waits for {self.space_id} {self.start:%Y-%m-%d %H:%M}"


class RoundStatus(models.TextChoices):
    OPEN = "open", _("收集中")
    ALLOCATED = "allocated", _("已分配")


class AllocationRound(models.Model):
    """A weekly release (每周放号) collected until a cutoff, then allocated fairly."""

    space = models.ForeignKey(
        Space, verbose_name=_("场地"), on_delete=models.CASCADE, related_name="rounds"
    )
    week_start = models.DateField(_("周一日期"))
    cutoff = models.DateTimeField(_("截止时间"))
    lookback_days = models.PositiveIntegerField(_("公平性回看天数"), default=28)
    status = models.CharField(_("状态"), max_length=20, choices=RoundStatus.choices, default="open")
    objective = models.JSONField(_("求解结果"), default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("创建人"),
        null=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)
    allocated_at = models.DateTimeField(_("分配时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("分配轮次")
        verbose_name_plural = _("分配轮次")
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["space", "week_start"], name="round_once_per_week")
        ]

    def __str__(self) -> str:
        return f"{self.space_id} {self.week_start}"


class RequestStatus(models.TextChoices):
    REQUESTED = "requested", _("已申请")
    GRANTED = "granted", _("已分配")
    DECLINED = "declined", _("未分配")


class AllocationRequest(models.Model):
    """One member's request for one period in a round."""

    round = models.ForeignKey(
        AllocationRound, verbose_name=_("轮次"), on_delete=models.CASCADE, related_name="requests"
    )
    member = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("成员"), on_delete=models.CASCADE, related_name="+"
    )
    start = models.DateTimeField(_("开始"))
    end = models.DateTimeField(_("结束"))
    party_size = models.PositiveIntegerField(_("人数"), default=1)
    status = models.CharField(
        _("状态"), max_length=20, choices=RequestStatus.choices, default="requested"
    )
    reservation = models.ForeignKey(
        Reservation,
        verbose_name=_("预约"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(_("申请时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("分配申请")
        verbose_name_plural = _("分配申请")
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["round", "member", "start"], name="allocation_request_once"
            ),
            models.CheckConstraint(
                condition=Q(end__gt=models.F("start")), name="allocation_request_ordered"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.member_id} {self.start:%Y-%m-%d %H:%M} {self.status}"
