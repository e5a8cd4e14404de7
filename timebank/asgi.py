"""HTTP and websocket routing."""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "timebank.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import OriginValidator  # noqa: E402
from django.conf import settings  # noqa: E402

from frontend.routing import websocket_urlpatterns  # noqa: E402


class BrowserOriginValidator(OriginValidator):  # type: ignore[misc]
    """Rejects cross-site browser sockets (a browser always sends Origin), but lets
    API clients without an Origin header through: they authenticate by token."""

    def valid_origin(self, parsed_origin: object) -> bool:
        if parsed_origin is None:
            return True
        return bool(self.validate_origin(parsed_origin))


def _allowed_origins() -> list[str]:
    hosts = list(settings.ALLOWED_HOSTS)
    return ["*"] if settings.DEBUG and not hosts else hosts


application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": BrowserOriginValidator(
            AuthMiddlewareStack(URLRouter(websocket_urlpatterns)), _allowed_origins()
        ),
    }
)
