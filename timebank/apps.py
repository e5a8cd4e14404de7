from __future__ import annotations

from django.apps import AppConfig


class TimebankConfig(AppConfig):
    name = "timebank"
    verbose_name = "时间银行 · 核心"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from timebank import db

        db.install_connection_hooks()
