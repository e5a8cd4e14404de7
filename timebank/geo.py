"""Reading a `near=lat,lon` query parameter, shared by every list that takes one.

Distances themselves are `matching.optimizer.geo.haversine_km`: the pure package
owns the one great-circle formula, and the Django side calls it.
"""

from __future__ import annotations

import math

from django.utils.translation import gettext_lazy as _

from timebank.errors import field_error


def parse_near(text: str | None) -> tuple[float, float] | None:
    """`"22.54,114.06"` → (lat, lon); empty → None; anything else → 422 `invalid_near`."""
    if not text:
        return None
    try:
        lat_s, lon_s = text.split(",")
        lat, lon = float(lat_s), float(lon_s)
    except ValueError:
        raise field_error("near", _("near 的格式应为 纬度,经度"), code="invalid_near") from None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180) or math.isnan(lat + lon):
        raise field_error("near", _("坐标超出范围"), code="invalid_near")
    return lat, lon
