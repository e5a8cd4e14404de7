"""Show a service's ApplicationError inline on a Django form."""

from __future__ import annotations

from django import forms

from timebank.errors import ApplicationError


def add_service_error(form: forms.Form, exc: ApplicationError) -> None:
    """Attach field errors to their fields and everything else to the form."""
    placed = False
    for err in exc.errors:
        field = err.get("field", "")
        if field in form.fields:
            form.add_error(field, err.get("message", ""))
            placed = True
    if not placed:
        form.add_error(None, str(exc.detail))
