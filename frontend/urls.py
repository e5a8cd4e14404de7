from __future__ import annotations

from django.urls import path

from frontend.views import core, dashboard, manager, people, resident, staff, volunteer

app_name = "frontend"

urlpatterns = [
    path("", core.home, name="home"),
    path("login/", core.LoginView.as_view(), name="login"),
    path("logout/", core.logout_view, name="logout"),
    path("healthz", core.healthz, name="healthz"),
    path("prefs/elder-mode", people.toggle_elder_mode, name="elder-mode"),
    path("me/data", people.my_data, name="my-data"),
    path("staff/register", people.register_person, name="register"),
    path("staff/directory", people.directory, name="directory"),
    path("staff/dashboard", dashboard.dashboard, name="dashboard"),
    path("staff/needs", staff.needs_board, name="s-needs"),
    path("staff/coverage", staff.coverage, name="s-coverage"),
    path("staff/needs/<int:need_id>", staff.need_edit, name="s-need"),
    path(
        "staff/requests/<int:request_id>/decline", staff.request_decline, name="s-request-decline"
    ),
    path("staff/runs", staff.runs, name="s-runs"),
    path("staff/runs/<int:run_id>", staff.run_detail, name="s-run"),
    path("staff/runs/<int:run_id>/apply", staff.run_apply_view, name="s-run-apply"),
    path("staff/verify", staff.verify_queue, name="s-verify"),
    path("staff/verify/<int:assignment_id>", staff.verify_one, name="s-verify-one"),
    path(
        "staff/shifts/<int:shift_id>/candidates", staff.shift_candidates_page, name="s-candidates"
    ),
    path("r/spaces", resident.spaces, name="r-spaces"),
    path("r/spaces/<int:space_id>", resident.space_week, name="r-space"),
    path("r/spaces/<int:space_id>/waitlist", resident.waitlist, name="r-waitlist"),
    path("r/reserve", resident.reserve, name="r-reserve"),
    path("r/request", resident.request_service, name="r-request"),
    path("r/reservations", resident.mine, name="r-mine"),
    path("r/reservations/<int:reservation_id>/cancel", resident.cancel, name="r-cancel"),
    path("r/reservations/<int:reservation_id>/accept", resident.accept_offer, name="r-accept"),
    path("r/ratings/<int:assignment_id>", resident.rate, name="r-rate"),
    path("m/spaces", manager.my_spaces, name="m-spaces"),
    path("m/spaces/<int:space_id>/rules", manager.space_rules, name="m-rules"),
    path("m/spaces/<int:space_id>/gate", manager.gate, name="m-gate"),
    path("m/spaces/<int:space_id>/gate/check-in", manager.gate_check_in, name="m-gate-checkin"),
    path("m/spaces/<int:space_id>/utilisation", manager.utilisation, name="m-util"),
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
