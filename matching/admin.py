"""The staff back office for needs, shifts, volunteers and assignments.

Assignments are read-only here: seats, waitlists and hours change only through
the services, so the locks, events and the ledger stay consistent.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from matching.models import (
    Assignment,
    AvailabilityException,
    AvailabilityWindow,
    MatchingRun,
    MatchingRunPart,
    Need,
    Notification,
    Proposal,
    Rating,
    Shift,
    VolunteerProfile,
    VolunteerSkill,
)


class ShiftInline(admin.TabularInline[Shift, Need]):
    model = Shift
    extra = 0
    fields = ("start", "end", "headcount", "seats_taken", "cancelled_at")
    readonly_fields = ("seats_taken", "cancelled_at")


@admin.register(Need)
class NeedAdmin(admin.ModelAdmin[Need]):
    list_display = ("title", "community", "category", "priority", "status", "created_at")
    list_filter = ("category", "priority", "status", "community")
    search_fields = ("title", "address", "description")
    raw_id_fields = ("beneficiary", "created_by")
    inlines = [ShiftInline]


@admin.register(Shift)
class ShiftAdmin(admin.ModelAdmin[Shift]):
    list_display = ("need", "start", "end", "headcount", "seats_taken", "cancelled_at")
    list_filter = ("community", "need__category")
    search_fields = ("need__title",)
    date_hierarchy = "start"
    readonly_fields = ("seats_taken",)


@admin.register(Assignment)
class AssignmentAdmin(admin.ModelAdmin[Assignment]):
    list_display = ("volunteer", "shift", "status", "late_cancel", "verified_minutes")
    list_filter = ("status", "late_cancel", "community")
    search_fields = ("volunteer__name", "volunteer__phone", "shift__need__title")
    date_hierarchy = "start"

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class SkillInline(admin.TabularInline[VolunteerSkill, VolunteerProfile]):
    model = VolunteerSkill
    extra = 0


class WindowInline(admin.TabularInline[AvailabilityWindow, VolunteerProfile]):
    model = AvailabilityWindow
    extra = 0


class ExceptionInline(admin.TabularInline[AvailabilityException, VolunteerProfile]):
    model = AvailabilityException
    extra = 0


@admin.register(VolunteerProfile)
class VolunteerProfileAdmin(admin.ModelAdmin[VolunteerProfile]):
    list_display = ("member", "travel_radius_km", "weekly_limit_minutes", "updated_at")
    search_fields = ("member__name", "member__phone")
    raw_id_fields = ("member",)
    exclude = ("calendar_token",)
    inlines = [SkillInline, WindowInline, ExceptionInline]


@admin.register(Rating)
class RatingAdmin(admin.ModelAdmin[Rating]):
    list_display = ("volunteer", "category", "score", "rater", "created_at")
    list_filter = ("category", "score")
    search_fields = ("volunteer__name", "comment")
    raw_id_fields = ("assignment", "volunteer", "rater")


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin[Notification]):
    list_display = ("member", "kind", "title", "created_at", "read_at")
    list_filter = ("kind",)
    search_fields = ("member__name", "title")
    raw_id_fields = ("member",)


class ProposalInline(admin.TabularInline[Proposal, MatchingRun]):
    model = Proposal
    extra = 0
    fields = ("shift", "volunteer", "status", "reason", "start", "end", "space_id", "assignment")
    readonly_fields = fields
    can_delete = False


class PartInline(admin.TabularInline[MatchingRunPart, MatchingRun]):
    model = MatchingRunPart
    extra = 0
    fields = ("index", "status", "worker", "seconds", "time_limit_s")
    readonly_fields = fields
    can_delete = False


@admin.register(MatchingRun)
class MatchingRunAdmin(admin.ModelAdmin[MatchingRun]):
    """Runs are started and applied through the API so locks and events hold."""

    list_display = ("id", "community", "kind", "status", "solver_status", "bound", "created_at")
    list_filter = ("status", "kind", "community")
    readonly_fields = ("progress", "objective", "bound", "solver_status", "unfilled", "error")
    inlines = [ProposalInline, PartInline]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
