from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from timebank.permissions import role_map


def shell(request: HttpRequest) -> dict[str, Any]:
    """What every page's frame needs: elder mode and the member's roles for the menu."""
    user = getattr(request, "user", None)
    roles: set[str] = set()
    elder = request.COOKIES.get("elder_mode") == "1"
    if user is not None and user.is_authenticated:
        roles = {r for names in role_map(user).values() for r in names}
        elder = bool(user.elder_mode)
    return {
        "elder_mode": elder,
        "my_roles": roles,
        "is_staff_member": bool(roles & {"social_worker", "space_manager", "admin"})
        or bool(user is not None and user.is_authenticated and user.is_superuser),
    }
