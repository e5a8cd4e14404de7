"""The ledger back office. Transfers, entries and accounts are read-only here:
a correction is a reversal, made with the admin action that calls the same
service as the API."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path
from django.utils.translation import gettext_lazy as _

from timebank.errors import ApplicationError
from timebank.ledger import certificates, services
from timebank.ledger.models import Account, Certificate, CommunityPolicy, Entry, Transfer
from timebank.people.models import Community, Member


class ReadOnlyAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class EntryInline(admin.TabularInline):  # type: ignore[type-arg]
    model = Entry
    extra = 0
    can_delete = False
    fields = ["account", "origin", "minutes", "balance_after"]
    readonly_fields = ["account", "origin", "minutes", "balance_after"]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Transfer)
class TransferAdmin(ReadOnlyAdmin):
    list_display = ["seq", "kind", "community", "actor", "memo", "created_at"]
    list_filter = ["kind", "community"]
    search_fields = ["memo", "actor__name", "idempotency_key", "hash"]
    date_hierarchy = "created_at"
    inlines = [EntryInline]
    actions = ["reverse_selected"]

    @admin.action(description=_("冲正所选转账（原因：后台冲正）"))
    def reverse_selected(self, request: HttpRequest, queryset: QuerySet[Transfer]) -> None:
        done = 0
        for transfer in queryset.order_by("seq"):
            try:
                services.ledger_reverse(
                    actor=request.user,  # type: ignore[arg-type]
                    transfer=transfer,
                    reason=str(_("后台冲正")),
                )
                done += 1
            except ApplicationError as exc:
                self.message_user(request, f"#{transfer.seq}: {exc.detail}", messages.ERROR)
        if done:
            self.message_user(request, _("已冲正 %(n)d 笔") % {"n": done}, messages.SUCCESS)


@admin.register(Entry)
class EntryAdmin(ReadOnlyAdmin):
    list_display = ["transfer", "account", "origin", "minutes", "balance_after"]
    list_filter = ["transfer__kind", "origin"]
    search_fields = ["account__member__name"]


class OperationForm(forms.Form):
    """A back-office operation, done by the same services as the API."""

    operation = forms.ChoiceField(
        label=_("操作"),
        choices=[
            ("earn", _("登记服务时长（线下核实）")),
            ("grant", _("公益池划拨给困难老人")),
            ("redeem", _("代为兑换服务")),
        ],
    )
    community = forms.ModelChoiceField(queryset=Community.objects.all(), label=_("社区"))
    member = forms.ModelChoiceField(queryset=Member.objects.all(), label=_("成员"))
    minutes = forms.IntegerField(label=_("分钟"), min_value=1)
    memo = forms.CharField(label=_("备注"), max_length=200, required=False)
    record_key = forms.CharField(
        label=_("服务记录编号（登记服务时必填，防止重复入账）"), max_length=100, required=False
    )


@admin.register(Account)
class AccountAdmin(ReadOnlyAdmin):
    list_display = ["id", "kind", "member", "community", "balance_minutes", "floor_minutes"]
    list_filter = ["kind", "community"]
    search_fields = ["member__name", "member__phone", "community__name"]

    def get_urls(self) -> list[URLPattern]:
        operate = path(
            "operate/",
            self.admin_site.admin_view(self.operate_view),
            name="ledger_account_operate",
        )
        return [operate, *super().get_urls()]

    def operate_view(self, request: HttpRequest) -> HttpResponse:
        form = OperationForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            actor: Member = request.user  # type: ignore[assignment]
            try:
                if data["operation"] == "earn":
                    if not data["record_key"]:
                        raise ApplicationError(_("请填写服务记录编号"), code="record_key_required")
                    transfer = services.ledger_earn_record(
                        actor=actor,
                        community=data["community"],
                        volunteer=data["member"],
                        minutes=data["minutes"],
                        record_key=data["record_key"],
                        memo=data["memo"],
                    )
                elif data["operation"] == "grant":
                    transfer = services.ledger_grant(
                        actor=actor,
                        community=data["community"],
                        to=data["member"],
                        minutes=data["minutes"],
                        memo=data["memo"],
                    )
                else:
                    transfer = services.ledger_redeem(
                        actor=actor,
                        community=data["community"],
                        member=data["member"],
                        minutes=data["minutes"],
                        memo=data["memo"],
                    )
            except ApplicationError as exc:
                self.message_user(request, str(exc.detail), messages.ERROR)
            else:
                self.message_user(
                    request, _("已记账：转账 #%(seq)d") % {"seq": transfer.seq}, messages.SUCCESS
                )
                return redirect("admin:ledger_transfer_change", transfer.pk)
        context = {
            **self.admin_site.each_context(request),
            "title": _("时间银行操作"),
            "form": form,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/ledger/operate.html", context)


@admin.register(CommunityPolicy)
class CommunityPolicyAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = [
        "community",
        "mode",
        "credit_limit_minutes",
        "redemption_age",
        "gift_scope",
        "storage_cap_minutes",
    ]
    list_filter = ["mode", "gift_scope"]
    search_fields = ["community__name"]
    readonly_fields = ["community", "updated_at", "updated_by"]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(
        self, request: HttpRequest, obj: CommunityPolicy, form: Any, change: bool
    ) -> None:
        # Through the service, so the permission check and validation match the API.
        fields = [
            "mode",
            "credit_limit_minutes",
            "redemption_age",
            "gift_scope",
            "storage_cap_minutes",
            "category_multipliers",
        ]
        services.policy_update(
            actor=request.user,  # type: ignore[arg-type]
            community=obj.community,
            changes={name: getattr(obj, name) for name in fields},
        )


@admin.register(Certificate)
class CertificateAdmin(ReadOnlyAdmin):
    list_display = ["number", "volunteer", "issuer", "minutes", "issued_at", "revoked_at"]
    list_filter = ["issuer", "revoked_at"]
    search_fields = ["number", "volunteer__name"]
    actions = ["revoke_selected"]

    @admin.action(description=_("撤销所选证明（原因：后台撤销）"))
    def revoke_selected(self, request: HttpRequest, queryset: QuerySet[Certificate]) -> None:
        for cert in queryset:
            try:
                certificates.certificate_revoke(
                    actor=request.user,  # type: ignore[arg-type]
                    number=cert.number,
                    reason=str(_("后台撤销")),
                )
            except ApplicationError as exc:
                self.message_user(request, f"{cert.number}: {exc.detail}", messages.ERROR)
