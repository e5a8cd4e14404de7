from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from django.db import transaction
from django.forms import ModelForm
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext_lazy as _

from timebank.audit.services import record_audit
from timebank.people.models import ApiToken, Community, Member, Relation, Role


class RolesThroughTheService:
    """Roles are granted and revoked through the API and the staff pages, whose
    service checks who may grant what and writes the audit trail; here they are
    read-only."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class RoleInline(RolesThroughTheService, admin.TabularInline[Role, Member]):
    model = Role
    fk_name = "member"
    extra = 0
    readonly_fields = ["community", "role", "granted_by", "granted_at"]


@admin.register(Community)
class CommunityAdmin(admin.ModelAdmin[Community]):
    list_display = ["name", "street", "district", "residents", "created_at"]
    list_filter = ["district", "street"]
    search_fields = ["name", "street", "district"]


@admin.register(Member)
class MemberAdmin(UserAdmin):  # type: ignore[type-arg]
    ordering = ["id"]
    list_display = [
        "id",
        "name",
        "masked_phone",
        "id_verified",
        "is_active",
        "is_staff",
        "date_joined",
    ]
    list_filter = ["id_verified", "is_active", "is_staff", "roles__role", "roles__community"]
    search_fields = ["name", "phone"]
    inlines = [RoleInline]
    readonly_fields = ["date_joined", "last_login", "registered_by"]
    fieldsets = (
        (None, {"fields": ("phone", "password")}),
        (
            _("个人信息"),
            {
                "fields": (
                    "name",
                    "birth_date",
                    "id_verified",
                    "home_lat",
                    "home_lon",
                    "registered_by",
                )
            },
        ),
        (
            _("权限"),
            {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")},
        ),
        (_("时间"), {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = (
        (None, {"classes": ("wide",), "fields": ("phone", "name", "password1", "password2")}),
    )

    @admin.display(description=_("手机号"))
    def masked_phone(self, obj: Member) -> str:
        return obj.masked_phone

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        # The change page shows the full phone and birth date: a staff view of
        # personal data, so it goes to the audit trail (PIPL).
        if request.method == "GET" and object_id.isdigit():
            with transaction.atomic():
                record_audit(
                    actor=request.user.pk,
                    action="personal_data.viewed",
                    object_type="people.member",
                    object_id=int(object_id),
                    subject_id=int(object_id),
                    changes={"via": "admin"},
                )
        return super().change_view(request, object_id, form_url, extra_context)

    def save_model(self, request: HttpRequest, obj: Member, form: ModelForm, change: bool) -> None:  # type: ignore[type-arg]
        super().save_model(request, obj, form, change)
        record_audit(
            actor=request.user.pk,
            action="member.changed" if change else "member.created",
            obj=obj,
            subject_id=obj.pk,
            changes={"fields": sorted(f for f in form.changed_data if f != "password")},
        )


@admin.register(Role)
class RoleAdmin(RolesThroughTheService, admin.ModelAdmin[Role]):
    list_display = ["member", "community", "role", "granted_by", "granted_at"]
    list_filter = ["role", "community"]
    search_fields = ["member__name", "member__phone"]


@admin.register(Relation)
class RelationAdmin(admin.ModelAdmin[Relation]):
    list_display = ["member", "relation", "relative", "community", "recorded_by", "created_at"]
    list_filter = ["relation", "community"]
    search_fields = ["member__name", "relative__name"]
    autocomplete_fields = ["member", "relative"]

    def has_change_permission(self, request: object, obj: Relation | None = None) -> bool:
        # Relations are recorded through the service, which keeps both directions.
        return False


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin[ApiToken]):
    list_display = ["prefix", "member", "created_at", "expires_at", "revoked_at", "last_used_at"]
    list_filter = ["revoked_at"]
    search_fields = ["member__name", "prefix"]
    readonly_fields = ["key_hash", "prefix", "created_at", "last_used_at"]
