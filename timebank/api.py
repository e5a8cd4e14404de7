"""The root NinjaAPI at /api/v1: mounts each app's router and maps errors once.

Every error leaves as application/problem+json with a stable `code`; `detail`
is in the request's language (zh-Hans unless `Accept-Language: en`).
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DatabaseError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext as _gettext
from django.utils.translation import gettext_lazy as _
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, AuthorizationError, HttpError, ValidationError
from ninja.openapi.docs import Swagger

from timebank.auth import API_AUTH
from timebank.errors import ApplicationError

log = logging.getLogger(__name__)

PROBLEM = "application/problem+json"


class RootSwagger(Swagger):
    """Docs at /api/docs read the schema from /api/openapi.json."""

    def get_openapi_url(self, api: NinjaAPI, path_params: dict[str, Any]) -> str:
        return "/api/openapi.json"


api = NinjaAPI(
    title="timebank API",
    version="1",
    description="社区时间银行、志愿服务匹配与共享空间预约 · Time bank, matching and shared spaces",
    auth=API_AUTH,
    urls_namespace="api",
    docs=RootSwagger(),
    docs_url=None,
    openapi_url="/openapi.json",
)


def problem(
    request: HttpRequest,
    *,
    status: int,
    code: str,
    title: Any,
    detail: Any = None,
    errors: list[dict[str, str]] | None = None,
    extra: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> HttpResponse:
    body: dict[str, Any] = {
        "type": "about:blank",
        "status": status,
        "code": code,
        "title": str(title),
        "detail": str(detail if detail is not None else title),
    }
    if errors:
        body["errors"] = errors
    if extra:
        body.update(extra)
    response = JsonResponse(
        body, status=status, content_type=PROBLEM, json_dumps_params={"ensure_ascii": False}
    )
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def _field_name(loc: Any) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header", "payload")]
    # ninja nests the body under the parameter name; the client never sent that name.
    if len(parts) > 1 and parts[0] in ("payload", "filters", "data"):
        parts = parts[1:]
    return ".".join(parts) or "body"


@api.exception_handler(ApplicationError)
def on_application_error(request: HttpRequest, exc: ApplicationError) -> HttpResponse:
    return problem(
        request,
        status=exc.status,
        code=exc.code,
        title=exc.title,
        detail=exc.detail,
        errors=exc.errors,
        extra=exc.extra,
        headers=exc.headers,
    )


@api.exception_handler(ValidationError)
def on_validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    errors = []
    malformed = False
    for err in exc.errors:
        if err.get("type") == "json_invalid" or "JSON" in str(err.get("msg", "")):
            malformed = True
        errors.append(
            {"field": _field_name(err.get("loc", ())), "message": str(err.get("msg", ""))}
        )
    if malformed:
        return problem(request, status=400, code="malformed_json", title=_("请求体不是有效的 JSON"))
    return problem(
        request,
        status=422,
        code="validation_error",
        title=_("输入有误"),
        detail=_gettext("请检查以下字段：%(fields)s")
        % {"fields": ", ".join(e["field"] for e in errors)},
        errors=errors,
    )


@api.exception_handler(AuthenticationError)
def on_unauthenticated(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return problem(request, status=401, code="not_authenticated", title=_("请先登录"))


@api.exception_handler(AuthorizationError)
def on_unauthorized(request: HttpRequest, exc: AuthorizationError) -> HttpResponse:
    return problem(request, status=403, code="forbidden", title=_("没有权限"))


@api.exception_handler(PermissionDenied)
def on_permission_denied(request: HttpRequest, exc: PermissionDenied) -> HttpResponse:
    # Django's CSRF failure for cookie auth lands here too.
    return problem(
        request, status=403, code="forbidden", title=_("没有权限"), detail=str(exc) or None
    )


@api.exception_handler(Http404)
def on_not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return problem(request, status=404, code="not_found", title=_("找不到该对象"))


@api.exception_handler(HttpError)
def on_http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    if exc.status_code == 400 and "parse" in str(exc.message).lower():
        return problem(request, status=400, code="malformed_json", title=_("请求体不是有效的 JSON"))
    code = {
        400: "bad_request",
        401: "not_authenticated",
        403: "forbidden",
        404: "not_found",
        405: "method_not_allowed",
        413: "payload_too_large",
        429: "too_many_requests",
    }
    return problem(
        request,
        status=exc.status_code,
        code=code.get(exc.status_code, "http_error"),
        title=str(exc.message),
    )


@api.exception_handler(DjangoValidationError)
def on_django_validation(request: HttpRequest, exc: DjangoValidationError) -> HttpResponse:
    errors = [
        {"field": field, "message": str(msg)}
        for field, msgs in getattr(exc, "message_dict", {"body": exc.messages}).items()
        for msg in msgs
    ]
    return problem(request, status=422, code="validation_error", title=_("输入有误"), errors=errors)


@api.exception_handler(DatabaseError)
def on_database_error(request: HttpRequest, exc: DatabaseError) -> HttpResponse:
    # A constraint the services did not foresee: the transaction was rolled
    # back, so nothing was written. Say so plainly rather than 500.
    from django.db import DataError, IntegrityError

    if isinstance(exc, IntegrityError):
        log.warning("integrity error reached the API: %s", exc)
        return problem(request, status=409, code="conflict", title=_("与现有数据冲突"))
    if isinstance(exc, DataError):
        # A value the database cannot hold (a NUL byte, a number out of range)
        # that validation let through: bad input, not an outage.
        log.warning("data error reached the API: %s", exc)
        return problem(
            request, status=422, code="invalid_data", title=_("输入包含无法保存的字符或数值")
        )
    log.exception("database error")
    return problem(
        request,
        status=503,
        code="database_unavailable",
        title=_("数据库暂时不可用，请稍后重试"),
        headers={"Retry-After": "5"},
    )


@api.exception_handler(Exception)
def on_unexpected(request: HttpRequest, exc: Exception) -> HttpResponse:
    log.exception("unexpected error in %s %s", request.method, request.path)
    return problem(request, status=500, code="internal_error", title=_("服务器内部错误"))


def _mount() -> None:
    from matching.api import router as matching_router
    from resources.api import router as resources_router
    from timebank.ledger.api import router as ledger_router
    from timebank.people.api import router as people_router

    api.add_router("", people_router)
    api.add_router("", ledger_router)
    api.add_router("", matching_router)
    api.add_router("", resources_router)


_mount()
