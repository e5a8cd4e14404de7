from __future__ import annotations

from django.urls import path

from frontend.views import core, people

app_name = "frontend"

urlpatterns = [
    path("", core.home, name="home"),
    path("login/", core.LoginView.as_view(), name="login"),
    path("logout/", core.logout_view, name="logout"),
    path("healthz", core.healthz, name="healthz"),
    path("prefs/elder-mode", people.toggle_elder_mode, name="elder-mode"),
    path("staff/register", people.register_person, name="register"),
    path("staff/directory", people.directory, name="directory"),
]
