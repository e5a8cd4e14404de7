from __future__ import annotations

from django.apps import AppConfig


class LedgerConfig(AppConfig):
    name = "timebank.ledger"
    label = "ledger"
    verbose_name = "时间银行账本"
    default_auto_field = "django.db.models.BigAutoField"
