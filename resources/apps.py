from __future__ import annotations

from django.apps import AppConfig


class ResourcesConfig(AppConfig):
    name = "resources"
    label = "resources"
    verbose_name = "共享空间"
    default_auto_field = "django.db.models.BigAutoField"
