"""Small-cell suppression (issue 16): what a reader outside the ministry — the World Bank monitors, the public IATI
file — may see of figures that count people. The one place the rule lives; every output (dashboard, CSV, XLSX, the
JSON API, the ISR table, IATI) asks `read` (or `apply`) for its observations. The snapshot's flags are worked out
once, at each refresh (`snapshot.refresh` runs `apply` over every observation and stores each flag in
`indicator_value.withheld`); only live answers (filtered by place or service type) run the rule per request.

The rule, for a reader who is not ministry staff (`exact_for`):

1. **Primary.** A cell of an indicator that counts people (`PEOPLE`: beneficiaries, new, since the start, different
   people; hard-to-employ staff, new, since the start) with a value of 1 to 4 is withheld: no value, flag `small`
   (shown "<5"). Zero is shown: it tells nothing about anyone.
2. **Secondary.** A breakdown (one indicator, period and disaggregation: the sexes, the age bands, the regions …) in
   which exactly one cell is withheld would give it back by subtraction from the total: the smallest other cell
   with people in it (else the smallest other cell) is withheld too, flag `secondary`. Municipalities are also taken
   region by region (a region's figure is the sum of its municipalities); a breakdown with no other cell withholds
   its total. Repeated until nothing changes.
3. **Shares of people** (`RATIOS`: women among the beneficiaries, among the hard-to-employ staff): withheld when
   their base cell is withheld, or when the base and the share give back a group of 1 to 4 people (women or men).

Money, grants, municipalities, timeliness and grievance figures are not people counts and are never withheld
(grievances have their own rule for sensitive cases). Ministry staff (administrators, reviewers, finance) see exact
figures everywhere. Not covered: differences *between periods* (a cumulative figure one month and the next give that
month's new people); the flows themselves are withheld when small."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal.indicators.compute import Filters, Observation

THRESHOLD = 5
PEOPLE = frozenset({"BEN", "BEN_NEW", "BEN_CUM", "BEN_UNIQUE", "HTE", "HTE_NEW", "HTE_CUM"})
RATIOS = {"BEN_FEMALE": "BEN", "HTE_FEMALE": "HTE"}
SMALL, SECONDARY = "small", "secondary"
SHOWN = "<5"  # what a withheld cell shows


def exact_for(user: Any) -> bool:
    """Ministry staff see exact figures; everyone else (monitors, the public) sees small cells withheld."""
    from portal import access

    return access.is_ministry(user)


def is_small(value: Any) -> bool:
    return value is not None and 0 < value < THRESHOLD


def _withhold(o: Observation, flag: str) -> Observation:
    return replace(o, value=None, suppressed=flag)


def apply(observations: list[Observation], regions: dict[str, str] | None = None) -> list[Observation]:
    """The observations with small cells withheld (the rule above). `regions`: municipality code → region code."""
    cells: dict[tuple, Observation] = {}
    order: list[tuple] = []
    for o in observations:
        key = (o.indicator, o.period_type, o.period, o.dimension, o.category)
        cells[key] = o
        order.append(key)
    for key, o in cells.items():
        if o.indicator in PEOPLE and is_small(o.value):
            cells[key] = _withhold(o, SMALL)
    groups: dict[tuple, list[tuple]] = defaultdict(list)
    for key in cells:
        code, ptype, period, dimension, category = key
        if code not in PEOPLE or dimension == "total":
            continue
        groups[(code, ptype, period, dimension, None)].append(key)
        if dimension == "municipality" and regions and category in regions:
            groups[(code, ptype, period, dimension, regions[category])].append(key)

    def parent(group: tuple) -> tuple:
        code, ptype, period, dimension, region = group
        if region is not None:
            return (code, ptype, period, "region", region)
        return (code, ptype, period, "total", "")

    # Municipalities region by region first: the second cell is then taken where the subtraction would happen.
    ordered = sorted(groups.items(), key=lambda item: item[0][4] is None)
    changed = True
    while changed:
        changed = False
        for group, members in ordered:
            withheld = [k for k in members if cells[k].suppressed]
            if len(withheld) != 1:
                continue
            shown = [k for k in members if not cells[k].suppressed]
            if shown:
                chosen = min(shown, key=lambda k: (not cells[k].value, cells[k].value, k[4]))
            else:
                chosen = parent(group)
                if chosen not in cells or cells[chosen].suppressed:
                    continue
            cells[chosen] = _withhold(cells[chosen], SECONDARY)
            changed = True
    for key, o in cells.items():
        base_code = RATIOS.get(o.indicator)
        if base_code is None or o.value is None:
            continue
        base = cells.get((base_code, *key[1:]))
        if base is None or base.value is None:  # the base withheld (or unknown here): so is the share
            cells[key] = _withhold(o, base.suppressed if base is not None else SMALL)
            continue
        women = (o.value * base.value / Decimal(100)).quantize(Decimal(1), ROUND_HALF_UP)
        if is_small(women) or is_small(base.value - women):
            cells[key] = _withhold(o, SMALL)
    return [cells[key] for key in order]


def municipality_regions(session: Session) -> dict[str, str]:
    from portal.models import Municipality, Region

    return {code: str(region) for code, region in session.execute(
        sa.select(Municipality.code, Region.code).join(Region, Region.id == Municipality.region_id))}


def read(session: Session, filters: Filters, exact: bool, now: Any = None, *,
         dimensions: tuple[str, ...] | None = None, periods: tuple[str, ...] | None = None,
         snap: Any = None) -> tuple[list[Observation], Any]:
    """`snapshot.read` for a reader: exact, or with small cells withheld. From the snapshot, the flags the rule gave
    at the refresh (`snapshot.refresh`, over every observation) are read back with the values: no rule per request.
    Live (filtered by place or service type), the rule runs here: for it to see whole breakdowns, what it reads is
    widened (the totals, the regions of municipalities, the bases of shares) and narrowed back after."""
    from portal.indicators import snapshot

    if exact or not snapshot.live_only(filters):
        return snapshot.read(session, filters, now, dimensions=dimensions, periods=periods, snap=snap, exact=exact)
    wide = filters
    if filters.codes:
        extra = tuple(RATIOS[c] for c in filters.codes if c in RATIOS and RATIOS[c] not in filters.codes)
        wide = replace(filters, codes=filters.codes + extra)
    dims = dimensions
    if dimensions is not None:
        dims = tuple(dict.fromkeys((*dimensions, "total", *(("region",) if "municipality" in dimensions else ()))))
    observations, snap = snapshot.read(session, wide, now, dimensions=dims, periods=periods, snap=snap)
    shown = apply(observations, municipality_regions(session))
    return [o for o in shown if (filters.codes is None or o.indicator in filters.codes)
            and (dimensions is None or o.dimension in dimensions)], snap
