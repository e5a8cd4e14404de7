"""需求与志愿服务: needs, shifts, volunteer profiles, assignments, ratings, inbox.

Invariants live in the database:
- a shift never holds more seats than its headcount (`shift_seats_within_headcount`);
- a volunteer is on a shift at most once while active (`assignment_one_active_per_shift`);
- on PostgreSQL, a volunteer's commitments never overlap in time (an exclusion
  constraint added by migration 0002, since `django.contrib.postgres` is not installed).
"""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _


class Category(models.TextChoices):
    ELDER_CARE = "elder_care", _("助老服务")
    ESCORT = "escort", _("陪同就医")
    TUTORING = "tutoring", _("课业辅导")
    CLEANUP = "cleanup", _("环境清洁")
    EVENT = "event", _("活动协助")
    OTHER = "other", _("其他")


class NeedStatus(models.TextChoices):
    """Stored lifecycle. `partly_filled` and `filled` are derived from seats, not stored,
    so concurrent sign-ups on different shifts never race on the need row."""

    OPEN = "open", _("开放")
    DONE = "done", _("已完成")
    CANCELLED = "cancelled", _("已取消")


class Need(models.Model):
    """A need (需求) posted by a social worker; it has one or more shifts."""

    community = models.ForeignKey(
        "people.Community", verbose_name=_("社区"), on_delete=models.PROTECT, related_name="needs"
    )
    title = models.CharField(_("标题"), max_length=200)
    category = models.CharField(_("类别"), max_length=20, choices=Category.choices)
    priority = models.PositiveSmallIntegerField(_("优先级"), default=3)
    description = models.TextField(_("说明"), blank=True)
    beneficiary = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("服务对象"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="needs_received",
    )
    lat = models.FloatField(_("纬度"))
    lon = models.FloatField(_("经度"))
    address = models.CharField(_("地址"), max_length=300, blank=True)
    skills = models.JSONField(_("所需技能"), default=list, blank=True)
    languages = models.JSONField(_("所需语言"), default=list, blank=True)
    # The shared space (resources app) the need requires; reserved once staffed.
    space_id = models.PositiveBigIntegerField(_("所需场地"), null=True, blank=True)
    recurrence = models.CharField(_("重复规则"), max_length=500, blank=True)
    status = models.CharField(
        _("状态"), max_length=20, choices=NeedStatus.choices, default=NeedStatus.OPEN
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("发布人"),
        on_delete=models.PROTECT,
        related_name="needs_posted",
    )
    created_at = models.DateTimeField(_("发布时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("需求")
        verbose_name_plural = _("需求")
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(priority__gte=1, priority__lte=5), name="need_priority_1_5"
            ),
            models.CheckConstraint(
                condition=Q(lat__gte=-90, lat__lte=90) & Q(lon__gte=-180, lon__lte=180),
                name="need_location_range",
            ),
        ]

    def __str__(self) -> str:
        return self.title


class Shift(models.Model):
    """One staffed time slot of a need. `seats_taken` counts confirmed and offered
    assignments (an offer holds its seat), and is only changed under the row lock."""

    need = models.ForeignKey(
        Need, verbose_name=_("需求"), on_delete=models.CASCADE, related_name="shifts"
    )
    # Denormalised from the need so permission checks and lists need no join.
    community = models.ForeignKey(
        "people.Community", verbose_name=_("社区"), on_delete=models.PROTECT, related_name="+"
    )
    start = models.DateTimeField(_("开始"))
    end = models.DateTimeField(_("结束"))
    headcount = models.PositiveIntegerField(_("人数"))
    seats_taken = models.PositiveIntegerField(_("已占名额"), default=0)
    # The room or field booked for this shift once staffed (resources app).
    reservation_id = models.BigIntegerField(_("场地预约"), null=True, blank=True)
    space_note = models.CharField(_("场地预约说明"), max_length=300, blank=True)
    cancelled_at = models.DateTimeField(_("取消时间"), null=True, blank=True)
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)
    # A flexible shift (弹性时段) leaves its time open: the optimizer places it on the
    # `step_min` grid within the window. Until it is placed, start/end hold the
    # earliest possible slot and `placed_at` is empty; sign-up waits for a placement.
    window_start = models.DateTimeField(_("可安排时段开始"), null=True, blank=True)
    window_end = models.DateTimeField(_("可安排时段结束"), null=True, blank=True)
    duration_min = models.PositiveIntegerField(_("时长（分钟）"), null=True, blank=True)
    step_min = models.PositiveIntegerField(_("起始时间步长（分钟）"), null=True, blank=True)
    # Acceptable spaces (resources.Space ids), or a kind plus a radius around the need.
    space_ids = models.JSONField(_("可选场地"), default=list, blank=True)
    space_kind = models.CharField(_("场地类型"), max_length=20, blank=True)
    space_radius_km = models.FloatField(_("场地范围（公里）"), null=True, blank=True)
    participants = models.PositiveIntegerField(_("参与人数"), null=True, blank=True)
    # The space chosen for this shift by a plan (or posted), and when it was placed.
    space_id = models.PositiveBigIntegerField(_("安排场地"), null=True, blank=True)
    placed_at = models.DateTimeField(_("安排时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("班次")
        verbose_name_plural = _("班次")
        ordering = ["start", "id"]
        indexes = [models.Index(fields=["community", "start"], name="shift_community_start")]
        constraints = [
            models.CheckConstraint(condition=Q(end__gt=F("start")), name="shift_end_after_start"),
            models.CheckConstraint(condition=Q(headcount__gte=1), name="shift_headcount_positive"),
            models.CheckConstraint(
                condition=Q(seats_taken__lte=F("headcount")), name="shift_seats_within_headcount"
            ),
            models.CheckConstraint(
                condition=Q(window_start__isnull=True)
                | Q(
                    window_end__gt=F("window_start"),
                    duration_min__gte=1,
                    step_min__gte=1,
                ),
                name="shift_flexible_window_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.need_id}@{self.start:%Y-%m-%d %H:%M}"

    @property
    def seats_left(self) -> int:
        return max(0, self.headcount - self.seats_taken)

    @property
    def duration_minutes(self) -> int:
        return int((self.end - self.start).total_seconds() // 60)

    @property
    def is_flexible(self) -> bool:
        return self.window_start is not None

    @property
    def needs_space(self) -> bool:
        return bool(self.space_ids) or bool(self.space_kind)

    @property
    def awaiting_placement(self) -> bool:
        """A flexible or space-needing shift that no plan has placed yet."""
        return (self.is_flexible or self.needs_space) and self.placed_at is None


def new_calendar_token() -> str:
    return secrets.token_urlsafe(24)


class VolunteerProfile(models.Model):
    """A volunteer's skills, languages, reach and limits (志愿者档案)."""

    member = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        verbose_name=_("成员"),
        primary_key=True,
        on_delete=models.CASCADE,
        related_name="volunteer_profile",
    )
    languages = models.JSONField(_("语言"), default=list, blank=True)
    home_lat = models.FloatField(_("住址纬度"), null=True, blank=True)
    home_lon = models.FloatField(_("住址经度"), null=True, blank=True)
    travel_radius_km = models.FloatField(_("服务半径（公里）"), default=3.0)
    weekly_limit_minutes = models.PositiveIntegerField(
        _("每周时长上限（分钟）"), null=True, blank=True
    )
    preferred_categories = models.JSONField(_("偏好类别"), default=list, blank=True)
    notify_email = models.EmailField(_("通知邮箱"), blank=True)
    calendar_token = models.CharField(
        _("日历订阅令牌"), max_length=64, unique=True, default=new_calendar_token
    )
    updated_at = models.DateTimeField(_("更新时间"), auto_now=True)

    class Meta:
        verbose_name = _("志愿者档案")
        verbose_name_plural = _("志愿者档案")
        constraints = [
            models.CheckConstraint(
                condition=Q(travel_radius_km__gt=0, travel_radius_km__lte=100),
                name="profile_radius_range",
            ),
        ]

    def __str__(self) -> str:
        return str(self.member_id)


class VolunteerSkill(models.Model):
    profile = models.ForeignKey(
        VolunteerProfile, verbose_name=_("档案"), on_delete=models.CASCADE, related_name="skills"
    )
    name = models.CharField(_("技能"), max_length=50)
    cert_expires = models.DateField(_("证书有效期至"), null=True, blank=True)

    class Meta:
        verbose_name = _("技能")
        verbose_name_plural = _("技能")
        constraints = [
            models.UniqueConstraint(fields=["profile", "name"], name="skill_unique_per_profile")
        ]

    def __str__(self) -> str:
        return self.name


class AvailabilityWindow(models.Model):
    """A weekly window, e.g. every Tuesday 18:00–21:00 (weekday 0 = Monday)."""

    profile = models.ForeignKey(
        VolunteerProfile,
        verbose_name=_("档案"),
        on_delete=models.CASCADE,
        related_name="windows",
    )
    weekday = models.PositiveSmallIntegerField(_("星期"))
    start = models.TimeField(_("开始"))
    end = models.TimeField(_("结束"))

    class Meta:
        verbose_name = _("每周可服务时段")
        verbose_name_plural = _("每周可服务时段")
        ordering = ["weekday", "start"]
        constraints = [
            models.CheckConstraint(condition=Q(weekday__lte=6), name="window_weekday_0_6"),
            models.CheckConstraint(condition=Q(end__gt=F("start")), name="window_end_after_start"),
        ]

    def __str__(self) -> str:
        return f"{self.weekday} {self.start}-{self.end}"


class AvailabilityException(models.Model):
    """A dated exception: unavailable all day (no times), or available/unavailable
    for a span that day."""

    profile = models.ForeignKey(
        VolunteerProfile,
        verbose_name=_("档案"),
        on_delete=models.CASCADE,
        related_name="exceptions",
    )
    date = models.DateField(_("日期"))
    available = models.BooleanField(_("可服务"), default=False)
    start = models.TimeField(_("开始"), null=True, blank=True)
    end = models.TimeField(_("结束"), null=True, blank=True)
    note = models.CharField(_("备注"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("例外日期")
        verbose_name_plural = _("例外日期")
        ordering = ["date", "start"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(start__isnull=True) & Q(end__isnull=True))
                | (Q(start__isnull=False) & Q(end__isnull=False) & Q(end__gt=F("start"))),
                name="exception_times_consistent",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.date} {'+' if self.available else '-'}"


class AssignmentStatus(models.TextChoices):
    WAITLISTED = "waitlisted", _("候补中")
    OFFERED = "offered", _("候补递补待确认")
    CONFIRMED = "confirmed", _("已确认")
    CHECKED_IN = "checked_in", _("已签到")
    CHECKED_OUT = "checked_out", _("已签退")
    VERIFIED = "verified", _("已核验")
    CANCELLED = "cancelled", _("已取消")
    DECLINED = "declined", _("已婉拒")
    EXPIRED = "expired", _("递补已过期")
    NO_SHOW = "no_show", _("缺席")


S = AssignmentStatus
# Statuses that hold a seat on the shift (an offer holds it until it expires).
SEAT_HOLDING = (S.OFFERED, S.CONFIRMED, S.CHECKED_IN, S.CHECKED_OUT, S.VERIFIED)
# Statuses that commit the volunteer's time: these may never overlap.
COMMITTED = (S.CONFIRMED, S.CHECKED_IN, S.CHECKED_OUT, S.VERIFIED)
# Statuses in which a volunteer is still "on" the shift: at most one per shift.
ACTIVE = (S.WAITLISTED, *SEAT_HOLDING)


class Assignment(models.Model):
    """A volunteer on a shift (报名/排班), from sign-up to verified hours.

    `start`/`end` copy the shift's times so the overlap constraint needs no join.
    """

    shift = models.ForeignKey(
        Shift, verbose_name=_("班次"), on_delete=models.CASCADE, related_name="assignments"
    )
    volunteer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("志愿者"),
        on_delete=models.PROTECT,
        related_name="assignments",
    )
    community = models.ForeignKey(
        "people.Community", verbose_name=_("社区"), on_delete=models.PROTECT, related_name="+"
    )
    status = models.CharField(_("状态"), max_length=20, choices=AssignmentStatus.choices)
    start = models.DateTimeField(_("开始"))
    end = models.DateTimeField(_("结束"))
    source = models.CharField(_("来源"), max_length=20, default="signup")
    offer_expires_at = models.DateTimeField(_("递补保留至"), null=True, blank=True)
    confirmed_at = models.DateTimeField(_("确认时间"), null=True, blank=True)
    checked_in_at = models.DateTimeField(_("签到时间"), null=True, blank=True)
    checked_out_at = models.DateTimeField(_("签退时间"), null=True, blank=True)
    travel_minutes = models.PositiveIntegerField(_("路程（分钟）"), default=0)
    minutes = models.PositiveIntegerField(_("服务时长（分钟）"), null=True, blank=True)
    verified_at = models.DateTimeField(_("核验时间"), null=True, blank=True)
    verified_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("核验人"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    verified_minutes = models.PositiveIntegerField(_("核定时长（分钟）"), null=True, blank=True)
    adjust_reason = models.CharField(_("调整原因"), max_length=300, blank=True)
    transfer_id = models.BigIntegerField(_("记账流水"), null=True, blank=True)
    cancelled_at = models.DateTimeField(_("取消时间"), null=True, blank=True)
    cancelled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("取消人"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    cancel_reason = models.CharField(_("取消原因"), max_length=300, blank=True)
    late_cancel = models.BooleanField(_("临时取消"), default=False)
    created_at = models.DateTimeField(_("报名时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("报名")
        verbose_name_plural = _("报名")
        ordering = ["id"]
        indexes = [
            models.Index(fields=["volunteer", "start"], name="assignment_volunteer_start"),
            models.Index(fields=["status", "offer_expires_at"], name="assignment_offer_due"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["shift", "volunteer"],
                condition=Q(status__in=[str(s) for s in ACTIVE]),
                name="assignment_one_active_per_shift",
            ),
            models.CheckConstraint(
                condition=Q(end__gt=F("start")), name="assignment_end_after_start"
            ),
            models.CheckConstraint(
                condition=~Q(status=S.OFFERED) | Q(offer_expires_at__isnull=False),
                name="assignment_offer_has_expiry",
            ),
            models.CheckConstraint(
                condition=~Q(status=S.VERIFIED)
                | Q(verified_at__isnull=False, verified_minutes__isnull=False),
                name="assignment_verified_has_minutes",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.volunteer_id}@{self.shift_id}:{self.status}"


class Rating(models.Model):
    """A rating (好差评) of a verified assignment, by its beneficiary or a social worker."""

    assignment = models.ForeignKey(
        Assignment, verbose_name=_("报名"), on_delete=models.CASCADE, related_name="ratings"
    )
    volunteer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("志愿者"),
        on_delete=models.PROTECT,
        related_name="ratings_received",
    )
    rater = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("评价人"),
        on_delete=models.PROTECT,
        related_name="ratings_given",
    )
    category = models.CharField(_("类别"), max_length=20, choices=Category.choices)
    score = models.PositiveSmallIntegerField(_("评分"))
    comment = models.CharField(_("评语"), max_length=500, blank=True)
    created_at = models.DateTimeField(_("评价时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("评价")
        verbose_name_plural = _("评价")
        constraints = [
            models.UniqueConstraint(fields=["assignment", "rater"], name="rating_once_per_rater"),
            models.CheckConstraint(condition=Q(score__gte=1, score__lte=5), name="rating_1_5"),
        ]

    def __str__(self) -> str:
        return f"{self.volunteer_id}: {self.score}"


class Notification(models.Model):
    """The in-app inbox (站内信). `dedupe_key` makes a reminder task safe to run twice."""

    member = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("成员"),
        on_delete=models.CASCADE,
        related_name="notifications",
    )
    kind = models.CharField(_("类型"), max_length=40)
    title = models.CharField(_("标题"), max_length=200)
    body = models.TextField(_("内容"), blank=True)
    data = models.JSONField(_("数据"), default=dict, blank=True)
    dedupe_key = models.CharField(_("去重键"), max_length=120, blank=True)
    created_at = models.DateTimeField(_("时间"), auto_now_add=True)
    read_at = models.DateTimeField(_("已读时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("站内通知")
        verbose_name_plural = _("站内通知")
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["member", "dedupe_key"],
                condition=~Q(dedupe_key=""),
                name="notification_dedupe",
            )
        ]

    def __str__(self) -> str:
        return f"{self.member_id}: {self.title}"


class RunStatus(models.TextChoices):
    QUEUED = "queued", _("排队中")
    RUNNING = "running", _("计算中")
    FINISHED = "finished", _("已完成")
    FAILED = "failed", _("失败")


class RunKind(models.TextChoices):
    PLAN = "plan", _("排班")
    REPLAN = "replan", _("局部重排")


class MatchingRun(models.Model):
    """One optimizer run (智能匹配) over a community's open shifts in a period.

    Solved by a task, never in a request; the result becomes proposals that a
    social worker applies in whole or in part.
    """

    community = models.ForeignKey(
        "people.Community", verbose_name=_("社区"), on_delete=models.PROTECT, related_name="+"
    )
    period_start = models.DateTimeField(_("开始"))
    period_end = models.DateTimeField(_("结束"))
    time_limit_s = models.PositiveIntegerField(_("时间上限（秒）"), default=10)
    kind = models.CharField(_("类型"), max_length=10, choices=RunKind.choices, default=RunKind.PLAN)
    # What started a re-plan, e.g. {"assignment": 12, "shift": 3} for a cancellation.
    trigger = models.JSONField(_("触发原因"), default=dict, blank=True)
    # A run split into parts solved as separate tasks (see MatchingRunPart).
    parts_total = models.PositiveIntegerField(_("分片数"), default=0)
    parts_done = models.PositiveIntegerField(_("已完成分片"), default=0)
    status = models.CharField(
        _("状态"), max_length=20, choices=RunStatus.choices, default=RunStatus.QUEUED
    )
    progress = models.JSONField(_("进度"), default=dict, blank=True)
    objective = models.JSONField(_("目标值"), default=dict, blank=True)
    bound = models.IntegerField(_("覆盖上界"), null=True, blank=True)
    solver_status = models.CharField(_("求解状态"), max_length=20, blank=True)
    unfilled = models.JSONField(_("未满足"), default=list, blank=True)
    error = models.CharField(_("错误"), max_length=500, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("发起人"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    created_at = models.DateTimeField(_("发起时间"), auto_now_add=True)
    finished_at = models.DateTimeField(_("完成时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("匹配运行")
        verbose_name_plural = _("匹配运行")
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(period_end__gt=F("period_start")), name="run_period_not_empty"
            ),
        ]

    def __str__(self) -> str:
        return f"run {self.pk} ({self.status})"


class MatchingRunPart(models.Model):
    """One independent part of a large run, solved by whichever task worker takes it.

    `problem` and `solution` are the optimizer's JSON documents (MATCHING_FORMAT.md),
    so a part can be solved on any machine that runs a worker."""

    run = models.ForeignKey(
        MatchingRun, verbose_name=_("匹配运行"), on_delete=models.CASCADE, related_name="parts"
    )
    index = models.PositiveIntegerField(_("序号"))
    problem = models.JSONField(_("子问题"))
    solution = models.JSONField(_("子问题解"), null=True, blank=True)
    time_limit_s = models.FloatField(_("时间上限（秒）"))
    status = models.CharField(
        _("状态"), max_length=20, choices=RunStatus.choices, default=RunStatus.QUEUED
    )
    worker = models.CharField(_("执行进程"), max_length=100, blank=True)
    seconds = models.FloatField(_("用时（秒）"), null=True, blank=True)

    class Meta:
        verbose_name = _("匹配分片")
        verbose_name_plural = _("匹配分片")
        ordering = ["run", "index"]
        constraints = [
            models.UniqueConstraint(fields=["run", "index"], name="run_part_unique"),
        ]

    def __str__(self) -> str:
        return f"run {self.run_id} part {self.index} ({self.status})"


class ProposalStatus(models.TextChoices):
    PROPOSED = "proposed", _("待采纳")
    APPLIED = "applied", _("已采纳")
    SKIPPED = "skipped", _("未能采纳")


class Proposal(models.Model):
    """A proposed (shift, volunteer) pair from a run, not yet a commitment."""

    run = models.ForeignKey(
        MatchingRun, verbose_name=_("匹配运行"), on_delete=models.CASCADE, related_name="proposals"
    )
    shift = models.ForeignKey(
        Shift, verbose_name=_("班次"), on_delete=models.CASCADE, related_name="+"
    )
    volunteer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("志愿者"),
        on_delete=models.CASCADE,
        related_name="+",
    )
    status = models.CharField(
        _("状态"), max_length=20, choices=ProposalStatus.choices, default=ProposalStatus.PROPOSED
    )
    reason = models.CharField(_("原因"), max_length=40, blank=True)
    # The placement proposed for a flexible or space-needing shift (hard rule 9).
    start = models.DateTimeField(_("安排开始"), null=True, blank=True)
    end = models.DateTimeField(_("安排结束"), null=True, blank=True)
    space_id = models.PositiveBigIntegerField(_("安排场地"), null=True, blank=True)
    assignment = models.ForeignKey(
        Assignment,
        verbose_name=_("报名"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        verbose_name = _("匹配建议")
        verbose_name_plural = _("匹配建议")
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["run", "shift", "volunteer"], name="proposal_unique_per_run"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.volunteer_id}→{self.shift_id} ({self.status})"


class RequestStatus(models.TextChoices):
    OPEN = "open", _("待处理")
    ACCEPTED = "accepted", _("已受理")
    DECLINED = "declined", _("未受理")


class ServiceRequest(models.Model):
    """A resident asks for help (居民需求清单); a social worker turns it into a need
    or declines it with a reason."""

    community = models.ForeignKey(
        "people.Community", verbose_name=_("社区"), on_delete=models.PROTECT, related_name="+"
    )
    member = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("居民"),
        on_delete=models.CASCADE,
        related_name="service_requests",
    )
    category = models.CharField(_("类别"), max_length=20, choices=Category.choices)
    description = models.CharField(_("需要什么帮助"), max_length=500)
    preferred = models.CharField(_("方便的时间"), max_length=200, blank=True)
    status = models.CharField(
        _("状态"), max_length=20, choices=RequestStatus.choices, default=RequestStatus.OPEN
    )
    need = models.ForeignKey(
        Need,
        verbose_name=_("对应需求"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="requests",
    )
    handled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("处理人"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    note = models.CharField(_("处理说明"), max_length=300, blank=True)
    created_at = models.DateTimeField(_("提出时间"), auto_now_add=True)
    handled_at = models.DateTimeField(_("处理时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("居民服务请求")
        verbose_name_plural = _("居民服务请求")
        ordering = ["-id"]
        indexes = [models.Index(fields=["community", "status"], name="request_open_idx")]

    def __str__(self) -> str:
        return f"{self.member_id}: {self.description[:20]}"
