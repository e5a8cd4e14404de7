from __future__ import annotations

from django.apps import AppConfig


class PeopleConfig(AppConfig):
    name = "timebank.people"
    label = "people"
    verbose_name = "社区与成员"
    default_auto_field = "django.db.models.BigAutoField"
