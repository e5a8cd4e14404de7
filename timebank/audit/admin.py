"""The audit trail in the back office: read-only, filtered by action and
community, searchable by member (actor or subject, by id or name) and object id."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from timebank.audit.models import AuditEntry


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin[AuditEntry]):
    list_display = ["at", "action", "actor", "subject", "community", "object_type", "object_id"]
    list_filter = ["action", "community", "object_type"]
    list_select_related = ["actor", "subject", "community"]
    search_fields = ["actor__name", "subject__name", "object_id"]
    search_help_text = _("按成员编号或姓名（操作人或当事人）、对象编号搜索")
    date_hierarchy = "at"
    readonly_fields = [
        "at",
        "actor",
        "action",
        "community",
        "object_type",
        "object_id",
        "subject",
        "changes",
    ]

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[AuditEntry], search_term: str
    ) -> tuple[QuerySet[AuditEntry], bool]:
        found, distinct = super().get_search_results(request, queryset, search_term)
        term = search_term.strip()
        if term.isdigit():
            number = int(term)
            found = found | queryset.filter(
                Q(actor_id=number) | Q(subject_id=number) | Q(object_id=term)
            )
        return found, distinct

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
