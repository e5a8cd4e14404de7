from __future__ import annotations

from django.urls import path

from frontend.views import core, people, staff, volunteer

app_name = "frontend"

urlpatterns = [
    path("", core.home, name="home"),
    path("login/", core.LoginView.as_view(), name="login"),
    path("logout/", core.logout_view, name="logout"),
    path("healthz", core.healthz, name="healthz"),
    path("prefs/elder-mode", people.toggle_elder_mode, name="elder-mode"),
    path("staff/register", people.register_person, name="register"),
    path("staff/directory", people.directory, name="directory"),
    path("staff/needs", staff.needs_board, name="s-needs"),
    path("staff/coverage", staff.coverage, name="s-coverage"),
    path("staff/verify", staff.verify_queue, name="s-verify"),
    path("staff/verify/<int:assignment_id>", staff.verify_one, name="s-verify-one"),
    path(
        "staff/shifts/<int:shift_id>/candidates", staff.shift_candidates_page, name="s-candidates"
    ),
    path("v/", volunteer.home, name="v-home"),
    path("v/shifts", volunteer.shift_find, name="v-shifts"),
    path("v/shifts/<int:shift_id>", volunteer.shift_detail, name="v-shift"),
    path("v/shifts/<int:shift_id>/signup", volunteer.shift_signup, name="v-signup"),
    path("v/schedule", volunteer.schedule, name="v-schedule"),
    path("v/assignments/<int:assignment_id>/cancel", volunteer.assignment_cancel, name="v-cancel"),
    path("v/assignments/<int:assignment_id>/accept", volunteer.offer_accept, name="v-accept"),
    path("v/check-in", volunteer.check_in, name="v-checkin"),
    path("v/hours", volunteer.hours, name="v-hours"),
    path("v/profile", volunteer.profile, name="v-profile"),
]
