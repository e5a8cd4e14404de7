"""Realistic random instances around a Shenzhen street (深圳福田区一带).

Deterministic per seed.  Communities (社区) are clusters about a kilometre
across, laid out on a jittered grid around 22.54 N, 114.06 E, so a street of ten
communities is a few km wide and a district of sixty is about ten.  Volunteers
live around their community's centre, shifts happen there.  The week starts on
Monday 7 December 2026 in Asia/Shanghai time (+08:00).

Proportions follow what community volunteer rosters look like: many retirees
free on weekday daytimes, workers free on evenings and weekends; elder care is
the commonest skill and sign language the rarest; nearly everyone speaks
Mandarin (zh), many Cantonese (yue), some English or Hakka.
"""

from __future__ import annotations

import math
import random
from datetime import datetime, timedelta, timezone
from typing import Any

from .types import INSTANCE_FORMAT

CST = timezone(timedelta(hours=8))
WEEK_START = datetime(2026, 12, 7, tzinfo=CST)  # a Monday
CENTRE = (22.54, 114.06)
KM_PER_DEG_LAT = 111.2

SKILLS = [
    ("elder_care", 0.45),
    ("companionship", 0.35),
    ("cleaning", 0.25),
    ("first_aid", 0.20),
    ("tutoring", 0.18),
    ("escort", 0.15),
    ("cooking", 0.12),
    ("driving", 0.10),
    ("it_help", 0.10),
    ("sign_language", 0.02),
]
LANGUAGES = [("zh", 0.97), ("yue", 0.5), ("en", 0.18), ("hakka", 0.08)]
# (category, required skills, headcount range, share of shifts)
CATEGORIES: list[tuple[str, tuple[str, ...], tuple[int, int], float]] = [
    ("elder_care", ("elder_care",), (1, 2), 0.28),
    ("companionship", (), (1, 2), 0.14),
    ("hospital_escort", ("escort",), (1, 1), 0.08),
    ("tutoring", ("tutoring",), (1, 3), 0.12),
    ("community_cleanup", (), (3, 10), 0.10),
    ("event_support", (), (2, 8), 0.08),
    ("first_aid_standby", ("first_aid",), (1, 2), 0.07),
    ("meal_delivery", ("driving",), (1, 2), 0.06),
    ("digital_help", ("it_help",), (1, 2), 0.05),
    ("sign_language", ("sign_language",), (1, 1), 0.02),
]


def _pick(rng: random.Random, table: list[tuple[str, float]]) -> list[str]:
    return [name for name, share in table if rng.random() < share]


def _iso(t: datetime) -> str:
    return t.isoformat()


def _near(rng: random.Random, centre: tuple[float, float], sigma_km: float) -> dict[str, float]:
    lat = centre[0] + rng.gauss(0, sigma_km) / KM_PER_DEG_LAT
    lon = centre[1] + rng.gauss(0, sigma_km) / (KM_PER_DEG_LAT * math.cos(math.radians(centre[0])))
    return {"lat": round(lat, 5), "lon": round(lon, 5)}


def _at(day: int, hour: float) -> datetime:
    return WEEK_START + timedelta(days=day, minutes=round(hour * 60))


def _availability(rng: random.Random) -> list[tuple[datetime, datetime]]:
    kind = rng.random()
    out: list[tuple[datetime, datetime]] = []
    if kind < 0.35:  # retirees: weekday mornings and afternoons
        for day in sorted(rng.sample(range(5), rng.randint(2, 5))):
            if rng.random() < 0.8:
                out.append((_at(day, 8), _at(day, 12)))
            if rng.random() < 0.6:
                out.append((_at(day, 13.5), _at(day, 17.5)))
        if rng.random() < 0.3:
            out.append((_at(5, 8), _at(5, 12)))
    elif kind < 0.7:  # workers: weekday evenings
        for day in sorted(rng.sample(range(5), rng.randint(1, 4))):
            out.append((_at(day, 18), _at(day, 22)))
        if rng.random() < 0.5:
            day = rng.choice([5, 6])
            out.append((_at(day, 9), _at(day, 17.5)))
    else:  # weekends, sometimes one evening
        for day in (5, 6):
            if rng.random() < 0.75:
                if rng.random() < 0.5:
                    out.append((_at(day, 8), _at(day, 18)))
                else:
                    out.append((_at(day, 8.5), _at(day, 12.5)))
                    out.append((_at(day, 13.5), _at(day, 18)))
        if rng.random() < 0.4:
            day = rng.randint(0, 4)
            out.append((_at(day, 18.5), _at(day, 21.5)))
    if not out:
        out.append((_at(5, 9), _at(5, 12)))
    return sorted(out)


def _shift_time(rng: random.Random) -> tuple[datetime, datetime]:
    slot = rng.random()
    if slot < 0.4:  # weekday daytime
        day = rng.randint(0, 4)
        if rng.random() < 0.55:
            start = rng.choice([8.5, 9, 9.5, 10])
            dur = min(rng.choice([1, 1, 1.5, 2, 2, 3]), 12 - start)
        else:
            start = rng.choice([14, 14.5, 15])
            dur = min(rng.choice([1, 1.5, 2, 2]), 17.5 - start)
    elif slot < 0.7:  # weekday evening
        day = rng.randint(0, 4)
        start = rng.choice([18.5, 19, 19.5])
        dur = rng.choice([1, 1.5, 2])
    else:  # weekend
        day = rng.choice([5, 6])
        start = rng.choice([9, 9.5, 10, 14, 14.5, 15])
        dur = rng.choice([1, 2, 2, 3, 4]) if start < 12 else rng.choice([1, 2, 3])
        dur = min(dur, (12.5 if start < 12 else 18) - start) if dur < 4 else 4
    return _at(day, start), _at(day, start + dur)


def _community_centres(rng: random.Random, n: int) -> list[tuple[float, float]]:
    side = math.ceil(math.sqrt(n))
    spacing_km = 1.3
    out = []
    for k in range(n):
        row, col = divmod(k, side)
        dy = (row - (side - 1) / 2) * spacing_km + rng.uniform(-0.3, 0.3)
        dx = (col - (side - 1) / 2) * spacing_km + rng.uniform(-0.3, 0.3)
        lat = CENTRE[0] + dy / KM_PER_DEG_LAT
        lon = CENTRE[1] + dx / (KM_PER_DEG_LAT * math.cos(math.radians(CENTRE[0])))
        out.append((lat, lon))
    return out


def _spaces(rng: random.Random, centres: list[tuple[float, float]]) -> list[dict[str, Any]]:
    spaces = []
    for c, centre in enumerate(centres):
        for kind in ("room", "hall", "field"):
            if kind == "field" and rng.random() < 0.5:
                continue
            capacity = {
                "room": rng.choice([10, 12, 16, 20]),
                "hall": rng.choice([30, 40, 60]),
                "field": 100,
            }[kind]
            free: list[dict[str, str]] = []
            for day in range(7):
                if day < 5:
                    # School fields open after classes; rooms have evening gaps.
                    if kind == "field" or rng.random() < 0.7:
                        free.append({"start": _iso(_at(day, 18)), "end": _iso(_at(day, 21.5))})
                    if kind != "field" and rng.random() < 0.5:
                        free.append({"start": _iso(_at(day, 9)), "end": _iso(_at(day, 11.5))})
                elif rng.random() < 0.8:
                    free.append({"start": _iso(_at(day, 8.5)), "end": _iso(_at(day, 17.5))})
            spaces.append(
                {
                    "id": f"sp{c + 1}{kind[0]}",
                    "location": _near(rng, centre, 0.3),
                    "capacity": capacity,
                    "free": free,
                }
            )
    return spaces


def generate(
    volunteers: int,
    shifts: int,
    *,
    seed: int = 0,
    communities: int | None = None,
    flexible: float = 0.0,
) -> dict[str, Any]:
    """An instance document (see module docstring); same seed, same document."""
    rng = random.Random(seed)  # noqa: S311 - reproducible test data, not security
    n_comm = communities if communities and communities > 0 else max(1, round(volunteers / 300))
    centres = _community_centres(rng, n_comm)
    vols: list[dict[str, Any]] = []
    vol_comm: list[int] = []
    for i in range(volunteers):
        c = rng.randrange(n_comm)
        vol_comm.append(c)
        skills = _pick(rng, SKILLS)
        langs = _pick(rng, LANGUAGES) or ["zh"]
        prefs = rng.sample(skills, min(len(skills), rng.randint(0, 2))) if skills else []
        vols.append(
            {
                "id": f"v{i + 1}",
                "location": _near(rng, centres[c], 0.6),
                "skills": skills,
                "languages": langs,
                "availability": [{"start": _iso(a), "end": _iso(b)} for a, b in _availability(rng)],
                "max_minutes": rng.choice([120, 180, 240, 240, 300, 360, 480]),
                "max_travel_km": rng.choice([2.0, 2.5, 3.0, 3.0, 3.5, 4.0, 5.0]),
                "preferences": prefs,
                "minutes_already": rng.choice([0, 0, 60, 120, 180, 240, 360, 600]),
            }
        )
    spaces = _spaces(rng, centres) if flexible > 0 else []
    spaces_by_comm: dict[int, list[dict[str, Any]]] = {}
    for sp in spaces:
        spaces_by_comm.setdefault(int(sp["id"][2:-1]) - 1, []).append(sp)
    cat_weights = [c[3] for c in CATEGORIES]
    beneficiaries_per_comm = 40
    out_shifts: list[dict[str, Any]] = []
    for j in range(shifts):
        c = rng.randrange(n_comm)
        k = rng.choices(range(len(CATEGORIES)), weights=cat_weights)[0]
        name, needs, (lo, hi), _ = CATEGORIES[k]
        headcount = rng.randint(lo, hi)
        r = rng.random()
        langs = ["yue"] if r < 0.25 else ["en"] if r < 0.3 else ["hakka"] if r < 0.33 else []
        priority = rng.choices([1, 2, 3, 4, 5], weights=[15, 25, 30, 20, 10])[0]
        if name in ("elder_care", "hospital_escort"):
            priority = min(5, priority + 1)
        shift: dict[str, Any] = {"id": f"s{j + 1}"}
        if rng.random() < flexible:
            # A flexible activity: any 30-minute step over two or three evenings,
            # or a weekend day, often in a community room.
            if rng.random() < 0.6:
                day = rng.randint(0, 2)
                w0, w1 = _at(day, 17), _at(day + rng.randint(1, 2), 21.5)
            else:
                day = rng.choice([5, 6])
                w0, w1 = _at(day, 8.5), _at(day, 17.5)
            shift["window"] = {"start": _iso(w0), "end": _iso(w1)}
            shift["duration_min"] = rng.choice([60, 90, 90, 120])
            shift["step_min"] = 30
        else:
            a, b = _shift_time(rng)
            shift["start"], shift["end"] = _iso(a), _iso(b)
        shift["location"] = _near(rng, centres[c], 0.5)
        if spaces and (("window" in shift and rng.random() < 0.6) or rng.random() < flexible * 0.3):
            local = spaces_by_comm.get(c, [])
            if local:
                chosen = rng.sample(local, min(len(local), rng.randint(1, 2)))
                shift["spaces"] = [sp["id"] for sp in chosen]
                top = max(sp["capacity"] for sp in chosen)
                shift["participants"] = rng.randint(max(1, top // 3), top)
        shift.update(
            {
                "headcount": headcount,
                "skills": list(needs),
                "languages": langs,
                "priority": priority,
                "category": name,
            }
        )
        if name in ("elder_care", "hospital_escort", "companionship", "meal_delivery"):
            shift["beneficiary"] = f"r{c + 1}-{rng.randrange(beneficiaries_per_comm) + 1}"
        out_shifts.append(shift)
    history = []
    seen: set[tuple[str, str]] = set()
    for _ in range(volunteers // 4):
        i = rng.randrange(volunteers)
        ben = f"r{vol_comm[i] + 1}-{rng.randrange(beneficiaries_per_comm) + 1}"
        if (vols[i]["id"], ben) in seen:
            continue
        seen.add((vols[i]["id"], ben))
        history.append(
            {"volunteer": vols[i]["id"], "beneficiary": ben, "visits": rng.randint(1, 12)}
        )
    doc: dict[str, Any] = {"format": INSTANCE_FORMAT}
    if spaces:
        doc["spaces"] = spaces
    doc.update(
        {"volunteers": vols, "shifts": out_shifts, "history": history, "fixed": [], "previous": []}
    )
    return doc
