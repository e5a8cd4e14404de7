"""The one exception root. Every domain error is an `ApplicationError` with a
stable snake_case `code`; `timebank.api` maps them once to problem+json."""

from __future__ import annotations

from typing import Any

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _


class ApplicationError(Exception):
    status: int = 400
    code: str = "bad_request"
    title: str | Promise = _("请求无效")

    def __init__(
        self,
        detail: str | Promise | None = None,
        *,
        code: str | None = None,
        status: int | None = None,
        title: str | Promise | None = None,
        errors: list[dict[str, str]] | None = None,
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        if title is not None:
            self.title = title
        self.detail = detail if detail is not None else self.title
        self.errors = errors or []
        self.extra = extra or {}
        self.headers = headers or {}
        super().__init__(str(self.detail))


class InvalidInput(ApplicationError):
    status = 422
    code = "validation_error"
    title = _("输入有误")


class Unauthorized(ApplicationError):
    status = 401
    code = "not_authenticated"
    title = _("请先登录")


class Forbidden(ApplicationError):
    status = 403
    code = "forbidden"
    title = _("没有权限")


class NotFound(ApplicationError):
    status = 404
    code = "not_found"
    title = _("找不到该对象")


class Conflict(ApplicationError):
    status = 409
    code = "conflict"
    title = _("与现有数据冲突")


class RateLimited(ApplicationError):
    status = 429
    code = "too_many_requests"
    title = _("尝试次数过多")


def field_error(
    field: str, message: str | Promise, *, code: str = "validation_error"
) -> InvalidInput:
    """A 422 about one field, with the message also under `errors`."""
    return InvalidInput(str(message), code=code, errors=[{"field": field, "message": str(message)}])
