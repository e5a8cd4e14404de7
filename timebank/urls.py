from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.urls import include, path
from ninja.openapi.views import openapi_json, openapi_view

from timebank.api import api
from timebank.metrics import metrics_view


def api_openapi(request: HttpRequest) -> HttpResponse:
    return openapi_json(request, api)


def api_docs(request: HttpRequest) -> HttpResponse:
    return openapi_view(request, api)


urlpatterns = [
    path("api/v1/", api.urls),
    path("api/openapi.json", api_openapi, name="openapi"),
    path("api/docs", api_docs, name="api-docs"),
    # Prometheus; who may scrape it is in timebank.metrics.
    path("metrics", metrics_view, name="prometheus-metrics"),
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("", include("frontend.urls")),
]
