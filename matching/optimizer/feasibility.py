"""The prefilter: which (shift, placement option, volunteer) triples can exist.

Hard rules 1-4 (and the room part of rule 9) depend on one pair alone, so they
are applied here, vectorised with numpy, before CP-SAT sees anything: the model
gets a variable only for a triple that passes.  The funnel counts kept per shift
(how many volunteers have the skills, of those speak a language, live near,
are available) are what ``reasons`` turns into plain words.

A shift's *options* are where and when it can happen: a fixed shift without
spaces has exactly one; a flexible shift has one per start on its step grid
(times each listed space that is free then and big enough).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import numpy.typing as npt

from .geo import haversine_km, haversine_many
from .types import Location, Problem

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


def epoch(t: datetime) -> int:
    """Whole seconds since the epoch; all rule arithmetic is done on these."""
    return int(t.timestamp())


@dataclass
class Funnel:
    """How many volunteers survive each prefilter stage for one shift.

    ``near`` (and ``nearest_km``) are exact when ``available`` is 0, the only
    case the unfilled reasons read them; otherwise ``near`` is ``available``, a
    lower bound, so that the distance test runs only for available people.
    """

    skilled: int = 0
    speaks: int = 0
    near: int = 0
    available: int = 0
    nearest_km: float = math.inf
    options: int = 0


@dataclass
class Feasibility:
    """Prefilter output.  Indices refer to ``problem.volunteers``/``problem.shifts``.

    Options are numbered globally: option ``o`` belongs to ``opt_shift[o]``, runs
    ``[opt_start[o], opt_end[o])`` in epoch seconds, and uses ``opt_space[o]``
    (-1 for none).  Triples ``t`` are ``(tri_shift[t], tri_opt[t], tri_vol[t])``
    with the home-to-place distance ``tri_km[t]``.
    """

    problem: Problem
    vol_index: dict[str, int]
    shift_index: dict[str, int]
    space_index: dict[str, int]
    opt_shift: IntArray
    opt_start: IntArray
    opt_end: IntArray
    opt_space: IntArray
    opt_lat: FloatArray
    opt_lon: FloatArray
    opt_dt: list[datetime]
    shift_opts: list[range]
    tri_shift: IntArray
    tri_opt: IntArray
    tri_vol: IntArray
    tri_km: FloatArray
    funnel: list[Funnel]
    # Pinned pairs that fail the prefilter; kept so that pinning can still be
    # honoured (the format says fixed pairs are assumed valid).
    forced: list[tuple[int, int]] = field(default_factory=list)

    @property
    def n_triples(self) -> int:
        return int(self.tri_shift.shape[0])

    def pairs(self) -> set[tuple[int, int]]:
        return set(zip(self.tri_shift.tolist(), self.tri_vol.tolist(), strict=True))


def _options(
    problem: Problem, space_index: dict[str, int]
) -> tuple[
    list[int],
    list[int],
    list[int],
    list[int],
    list[float],
    list[float],
    list[datetime],
    list[range],
]:
    o_shift: list[int] = []
    o_start: list[int] = []
    o_end: list[int] = []
    o_space: list[int] = []
    o_lat: list[float] = []
    o_lon: list[float] = []
    o_dt: list[datetime] = []
    ranges: list[range] = []
    space_free = [[(epoch(w.start), epoch(w.end)) for w in sp.free] for sp in problem.spaces]
    for si, s in enumerate(problem.shifts):
        first = len(o_shift)
        dur = round(s.minutes * 60)
        rooms = [
            space_index[sp]
            for sp in s.spaces
            if problem.spaces[space_index[sp]].capacity >= s.participants
        ]
        for t in s.grid_starts():
            a = epoch(t)
            b = a + dur
            if s.spaces:
                for r in rooms:
                    if any(f0 <= a and b <= f1 for f0, f1 in space_free[r]):
                        loc = problem.spaces[r].location
                        o_shift.append(si)
                        o_start.append(a)
                        o_end.append(b)
                        o_space.append(r)
                        o_lat.append(loc.lat)
                        o_lon.append(loc.lon)
                        o_dt.append(t)
            elif s.location is not None:
                o_shift.append(si)
                o_start.append(a)
                o_end.append(b)
                o_space.append(-1)
                o_lat.append(s.location.lat)
                o_lon.append(s.location.lon)
                o_dt.append(t)
        ranges.append(range(first, len(o_shift)))
    return o_shift, o_start, o_end, o_space, o_lat, o_lon, o_dt, ranges


def prefilter(problem: Problem, *, count_only: bool = False) -> Feasibility:
    """Apply rules 1-4 (and 9's room part) to every pair, vectorised per shift.

    With ``count_only`` only the funnel counts are kept (no triples): that is
    what ``decompose`` needs to bound the pairs it cuts.
    """
    vols = problem.volunteers
    n_v = len(vols)
    vol_index = {v.id: i for i, v in enumerate(vols)}
    shift_index = {s.id: i for i, s in enumerate(problem.shifts)}
    space_index = {sp.id: i for i, sp in enumerate(problem.spaces)}

    skill_ids: dict[str, int] = {}
    lang_ids: dict[str, int] = {}
    for v in vols:
        for k in v.skills:
            skill_ids.setdefault(k, len(skill_ids))
        for k in v.languages:
            lang_ids.setdefault(k, len(lang_ids))
    has_skill = np.zeros((n_v, max(1, len(skill_ids))), dtype=np.bool_)
    speaks = np.zeros((n_v, max(1, len(lang_ids))), dtype=np.bool_)
    for i, v in enumerate(vols):
        for k in v.skills:
            has_skill[i, skill_ids[k]] = True
        for k in v.languages:
            speaks[i, lang_ids[k]] = True
    vlat = np.array([v.location.lat for v in vols], dtype=np.float64)
    vlon = np.array([v.location.lon for v in vols], dtype=np.float64)
    vmax = np.array([v.max_travel_km for v in vols], dtype=np.float64)
    # Availability windows as a CSR table: volunteer i owns av_*[ptr[i]:ptr[i+1]].
    counts = np.array([len(v.availability) for v in vols], dtype=np.int64)
    av_ptr = np.zeros(n_v + 1, dtype=np.int64)
    np.cumsum(counts, out=av_ptr[1:])
    av_start = np.array([epoch(w.start) for v in vols for w in v.availability], dtype=np.int64)
    av_end = np.array([epoch(w.end) for v in vols for w in v.availability], dtype=np.int64)

    # Volunteers sorted by latitude: a shift only looks at the band of homes
    # within the longest travel range north and south of it.
    lat_order = np.argsort(vlat, kind="stable")
    lat_sorted = vlat[lat_order]
    reach_deg = (float(vmax.max()) if n_v else 0.0) / 111.0 + 1e-6

    o_shift, o_start, o_end, o_space, o_lat, o_lon, o_dt, ranges = _options(problem, space_index)
    opt_start = np.array(o_start, dtype=np.int64)
    opt_end = np.array(o_end, dtype=np.int64)

    t_shift: list[IntArray] = []
    t_opt: list[IntArray] = []
    t_vol: list[IntArray] = []
    t_km: list[FloatArray] = []
    funnels: list[Funnel] = []
    # Rule 1 depends only on an option's (start, end): who is available then is
    # one vectorised test over every window, shared by all options at that time.
    free_at: dict[tuple[int, int], BoolArray] = {}
    av_owner = np.repeat(np.arange(n_v, dtype=np.int64), counts)

    def available(o: int) -> BoolArray:
        key = (int(opt_start[o]), int(opt_end[o]))
        hit = free_at.get(key)
        if hit is None:
            hit = np.zeros(n_v, dtype=np.bool_)
            hit[av_owner[(av_start <= key[0]) & (av_end >= key[1])]] = True
            if len(free_at) > 4096:
                free_at.clear()
            free_at[key] = hit
        return hit

    def near_ok(cand: IntArray, key: tuple[float, float]) -> tuple[BoolArray, FloatArray]:
        d = haversine_many(vlat[cand], vlon[cand], key[0], key[1])
        ok = d <= vmax[cand]
        # Re-decide pairs on the edge with the scalar formula the validator uses,
        # so that vectorised rounding never admits a pair the checker rejects.
        edge = np.flatnonzero(np.abs(d - vmax[cand]) < 1e-9)
        for e in edge.tolist():
            vi = int(cand[e])
            ok[e] = (
                haversine_km(vols[vi].location.lat, vols[vi].location.lon, key[0], key[1])
                <= vols[vi].max_travel_km
            )
        return ok, d

    for si, s in enumerate(problem.shifts):
        f = Funnel(options=len(ranges[si]))
        funnels.append(f)
        mask = np.ones(n_v, dtype=np.bool_)
        for k in s.skills:
            if k not in skill_ids:
                mask[:] = False
                break
            mask &= has_skill[:, skill_ids[k]]
        f.skilled = int(mask.sum())
        if s.languages:
            cols = [lang_ids[k] for k in s.languages if k in lang_ids]
            mask &= speaks[:, cols].any(axis=1) if cols else False
        f.speaks = int(mask.sum())
        if f.speaks == 0:
            continue
        if len(ranges[si]) == 0:
            where = s.location or problem.spaces[space_index[s.spaces[0]]].location
            probe = [(where.lat, where.lon)]
        else:
            probe = [(o_lat[o], o_lon[o]) for o in ranges[si]]
        # Available first (cheap, shared per time), then the distance test only
        # for those: most of the district is not free at any one time.
        free_any = np.zeros(n_v, dtype=np.bool_)
        for o in ranges[si]:
            free_any |= available(o)
        cand = np.flatnonzero(mask & free_any)
        avail_any = np.zeros(cand.size, dtype=np.bool_)
        if cand.size:
            locs: dict[tuple[float, float], tuple[BoolArray, FloatArray]] = {}
            for o in ranges[si]:
                key = (o_lat[o], o_lon[o])
                if key not in locs:
                    locs[key] = near_ok(cand, key)
                near_k, d_k = locs[key]
                ok = near_k & available(o)[cand]
                if not ok.any():
                    continue
                avail_any |= ok
                if count_only:
                    continue
                sel = np.flatnonzero(ok)
                t_shift.append(np.full(sel.size, si, dtype=np.int64))
                t_opt.append(np.full(sel.size, o, dtype=np.int64))
                t_vol.append(cand[sel])
                t_km.append(d_k[sel])
        f.available = int(avail_any.sum())
        if f.available or count_only:
            # ``near`` and ``nearest_km`` only matter to the reasons of a shift
            # nobody is available for; elsewhere ``near`` is a lower bound.
            f.near = f.available
            continue
        # Nobody available: count who lives near at all (and how near the nearest
        # is), for the reason.  Only the band of homes within the longest travel
        # range north and south of the shift is looked at.
        lats = [q[0] for q in probe]
        lo_i, hi_i = np.searchsorted(lat_sorted, [min(lats) - reach_deg, max(lats) + reach_deg])
        band = np.sort(lat_order[lo_i:hi_i])
        near_cand = band[mask[band]]
        if near_cand.size == 0:
            f.nearest_km = _nearest(vlat[mask], vlon[mask], probe)
            continue
        near_any = np.zeros(near_cand.size, dtype=np.bool_)
        for key in dict.fromkeys(probe):
            ok, d = near_ok(near_cand, key)
            near_any |= ok
            f.nearest_km = min(f.nearest_km, float(d.min()))
        f.near = int(near_any.sum())

    def cat_i(parts: list[IntArray]) -> IntArray:
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)

    feas = Feasibility(
        problem=problem,
        vol_index=vol_index,
        shift_index=shift_index,
        space_index=space_index,
        opt_shift=np.array(o_shift, dtype=np.int64),
        opt_start=opt_start,
        opt_end=opt_end,
        opt_space=np.array(o_space, dtype=np.int64),
        opt_lat=np.array(o_lat, dtype=np.float64),
        opt_lon=np.array(o_lon, dtype=np.float64),
        opt_dt=o_dt,
        shift_opts=ranges,
        tri_shift=cat_i(t_shift),
        tri_opt=cat_i(t_opt),
        tri_vol=cat_i(t_vol),
        tri_km=np.concatenate(t_km) if t_km else np.zeros(0, dtype=np.float64),
        funnel=funnels,
    )
    _add_forced(feas)
    return feas


def _nearest(lat: FloatArray, lon: FloatArray, probe: list[tuple[float, float]]) -> float:
    if lat.size == 0:
        return math.inf
    return min(float(haversine_many(lat, lon, a, b).min()) for a, b in probe)


def _add_forced(feas: Feasibility) -> None:
    """Give every pinned pair at least one triple, even if the prefilter dropped it."""
    if not feas.problem.fixed:
        return
    have = feas.pairs()
    extra_s: list[int] = []
    extra_o: list[int] = []
    extra_v: list[int] = []
    extra_km: list[float] = []
    for p in feas.problem.fixed:
        si = feas.shift_index[p.shift]
        vi = feas.vol_index[p.volunteer]
        if (si, vi) in have:
            continue
        feas.forced.append((si, vi))
        home: Location = feas.problem.volunteers[vi].location
        for o in feas.shift_opts[si]:
            extra_s.append(si)
            extra_o.append(o)
            extra_v.append(vi)
            extra_km.append(
                haversine_km(home.lat, home.lon, float(feas.opt_lat[o]), float(feas.opt_lon[o]))
            )
    if extra_s:
        feas.tri_shift = np.concatenate([feas.tri_shift, np.array(extra_s, dtype=np.int64)])
        feas.tri_opt = np.concatenate([feas.tri_opt, np.array(extra_o, dtype=np.int64)])
        feas.tri_vol = np.concatenate([feas.tri_vol, np.array(extra_v, dtype=np.int64)])
        feas.tri_km = np.concatenate([feas.tri_km, np.array(extra_km, dtype=np.float64)])


def candidates_per_shift(feas: Feasibility, select: BoolArray | None = None) -> IntArray:
    """Distinct candidate volunteers per shift (among the triples ``select``)."""
    n_s = len(feas.problem.shifts)
    if feas.n_triples == 0:
        return np.zeros(n_s, dtype=np.int64)
    n_v = max(1, len(feas.problem.volunteers))
    keys = feas.tri_shift * n_v + feas.tri_vol
    if select is not None:
        keys = keys[select]
    if keys.size == 0:
        return np.zeros(n_s, dtype=np.int64)
    keys = np.sort(keys)
    first = np.ones(keys.size, dtype=np.bool_)
    first[1:] = keys[1:] != keys[:-1]
    out: IntArray = np.bincount(keys[first] // n_v, minlength=n_s)
    return out


def option_km(feas: Feasibility, a: int, b: int) -> float:
    """Distance between the places of two options (0 when they are the same place)."""
    la, lo = float(feas.opt_lat[a]), float(feas.opt_lon[a])
    lb, lob = float(feas.opt_lat[b]), float(feas.opt_lon[b])
    if la == lb and lo == lob:
        return 0.0
    return haversine_km(la, lo, lb, lob)


def options_conflict(feas: Feasibility, a: int, b: int) -> bool:
    """Rule 5 for one volunteer: can options ``a`` and ``b`` not both be worked?"""
    if feas.opt_shift[a] == feas.opt_shift[b]:
        return True
    a0, a1 = int(feas.opt_start[a]), int(feas.opt_end[a])
    b0, b1 = int(feas.opt_start[b]), int(feas.opt_end[b])
    if a0 < b1 and b0 < a1:
        return True
    gap = b0 - a1 if a1 <= b0 else a0 - b1
    need = math.ceil(4 * option_km(feas, a, b)) * 60
    return gap < need


def conflict_matrix(feas: Feasibility, opts: IntArray) -> BoolArray:
    """Pairwise rule-5 conflicts among one volunteer's options, vectorised.

    The travel gap uses ``ceil(4 km + 1e-9)`` for distinct places: a hair more
    conservative than the validator, so float noise can never let the solver
    squeeze two shifts closer than the validator allows.
    """
    s = feas.opt_start[opts]
    e = feas.opt_end[opts]
    lat = feas.opt_lat[opts]
    lon = feas.opt_lon[opts]
    same_place = (lat[:, None] == lat[None, :]) & (lon[:, None] == lon[None, :])
    dlat = np.radians(lat[None, :] - lat[:, None])
    dlon = np.radians(lon[None, :] - lon[:, None])
    h = (
        np.sin(dlat / 2) ** 2
        + np.cos(np.radians(lat))[:, None]
        * np.cos(np.radians(lat))[None, :]
        * np.sin(dlon / 2) ** 2
    )
    km = 2 * 6371.0 * np.arcsin(np.sqrt(np.minimum(1.0, h)))
    need = np.where(same_place, 0, np.ceil(4 * km + 1e-9) * 60)
    # gap[i, j] is the time from the end of the earlier to the start of the later one.
    gap = np.maximum(s[None, :] - e[:, None], s[:, None] - e[None, :])
    conflict: BoolArray = gap < need
    shifts = feas.opt_shift[opts]
    conflict |= shifts[:, None] == shifts[None, :]
    np.fill_diagonal(conflict, False)
    return conflict
