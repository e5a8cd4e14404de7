"""Great-circle distances (haversine, Earth radius 6371.0 km) and travel gaps."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

EARTH_RADIUS_KM = 6371.0

FloatArray = npt.NDArray[np.float64]


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    dlat = math.radians(lat2 - lat1)
    dlon = math.radians(lon2 - lon1)
    a = (
        math.sin(dlat / 2) ** 2
        + math.cos(math.radians(lat1)) * math.cos(math.radians(lat2)) * math.sin(dlon / 2) ** 2
    )
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(min(1.0, a)))


def haversine_many(lat: FloatArray, lon: FloatArray, lat0: float, lon0: float) -> FloatArray:
    """Distances from many points (degrees) to one point, vectorised."""
    dlat = np.radians(lat0 - lat)
    dlon = np.radians(lon0 - lon)
    a = (
        np.sin(dlat / 2) ** 2
        + np.cos(np.radians(lat)) * math.cos(math.radians(lat0)) * np.sin(dlon / 2) ** 2
    )
    out: FloatArray = 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.minimum(1.0, a)))
    return out


def travel_gap_minutes(km: float) -> int:
    """Minutes needed between two shifts ``km`` apart: about 15 km/h across town."""
    return math.ceil(4 * km)
