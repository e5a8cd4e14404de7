from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from resources.availability import descendants, forget_shapes
from resources.models import (
    AllocationRequest,
    AllocationRound,
    Closure,
    OpeningWindow,
    Reservation,
    SeasonPeriod,
    SessionSlot,
    Space,
    Suspension,
    WaitlistEntry,
)


class OpeningWindowInline(admin.TabularInline[OpeningWindow, Space]):
    model = OpeningWindow
    extra = 0


class SeasonInline(admin.TabularInline[SeasonPeriod, Space]):
    model = SeasonPeriod
    extra = 0


class ClosureInline(admin.TabularInline[Closure, Space]):
    model = Closure
    extra = 0
    readonly_fields = ["created_by", "created_at"]


@admin.register(Space)
class SpaceAdmin(admin.ModelAdmin[Space]):
    list_display = ["id", "name", "kind", "mode", "capacity", "community", "parent", "is_active"]
    list_filter = ["kind", "mode", "owner_type", "is_active", "community"]
    search_fields = ["name", "address"]
    raw_id_fields = ["parent"]
    inlines = [OpeningWindowInline, SeasonInline, ClosureInline]

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        # Opening rules edited here must reach availability reads at once.
        forget_shapes([d.pk for d in descendants(form.instance)])


@admin.register(Reservation)
class ReservationAdmin(admin.ModelAdmin[Reservation]):
    # Writes go through the booking services, which keep the blocks and seats
    # in step; the back office reads here and acts through the API.
    list_display = ["id", "space", "member", "start", "end", "status", "party_size", "no_show"]
    list_filter = ["status", "no_show", "space__community"]
    search_fields = ["member__name", "member__phone", "space__name"]
    date_hierarchy = "start"
    raw_id_fields = ["space", "member", "guardian", "session", "handled_by"]

    def has_add_permission(self, request: object) -> bool:
        return False

    def has_change_permission(self, request: object, obj: object = None) -> bool:
        return False


@admin.register(SessionSlot)
class SessionSlotAdmin(admin.ModelAdmin[SessionSlot]):
    list_display = ["id", "space", "start", "end", "booked", "capacity"]
    list_filter = ["space__community"]
    search_fields = ["space__name"]
    readonly_fields = ["booked"]


@admin.register(Suspension)
class SuspensionAdmin(admin.ModelAdmin[Suspension]):
    list_display = ["id", "member", "community", "starts_at", "ends_at", "reason"]
    list_filter = ["community"]
    search_fields = ["member__name", "member__phone"]
    raw_id_fields = ["member"]


@admin.register(WaitlistEntry)
class WaitlistEntryAdmin(admin.ModelAdmin[WaitlistEntry]):
    list_display = ["id", "space", "member", "start", "end", "status", "created_at"]
    list_filter = ["status"]
    search_fields = ["member__name", "space__name"]
    raw_id_fields = ["space", "member", "offer"]


class AllocationRequestInline(admin.TabularInline[AllocationRequest, AllocationRound]):
    model = AllocationRequest
    extra = 0
    raw_id_fields = ["member", "reservation"]


@admin.register(AllocationRound)
class AllocationRoundAdmin(admin.ModelAdmin[AllocationRound]):
    list_display = ["id", "space", "week_start", "cutoff", "status", "allocated_at"]
    list_filter = ["status"]
    search_fields = ["space__name"]
    inlines = [AllocationRequestInline]
