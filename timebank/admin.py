from __future__ import annotations

from django.contrib import admin

from timebank.models import Event, IdempotencyRecord


@admin.register(Event)
class EventAdmin(admin.ModelAdmin[Event]):
    list_display = ["id", "type", "created_at"]
    list_filter = ["type"]
    search_fields = ["type", "recipients__group"]

    def has_change_permission(self, request: object, obj: Event | None = None) -> bool:
        return False

    def has_add_permission(self, request: object) -> bool:
        return False


@admin.register(IdempotencyRecord)
class IdempotencyRecordAdmin(admin.ModelAdmin[IdempotencyRecord]):
    list_display = ["scope", "key", "member", "status", "created_at"]
    search_fields = ["key", "scope"]
    readonly_fields = ["member", "scope", "key", "request_hash", "status", "body", "created_at"]
