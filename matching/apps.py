from __future__ import annotations

from django.apps import AppConfig


class MatchingConfig(AppConfig):
    name = "matching"
    label = "matching"
    verbose_name = "需求与志愿服务"
    default_auto_field = "django.db.models.BigAutoField"
