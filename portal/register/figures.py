"""A month's beneficiary figures computed from a grant's register (issue 16): what the monthly report's service
lines hold, per service type, what the report of a grant whose call requires a register is
filled with (`portal.reports.from_register`).

Per service type, with people counted once (their keyed hash), withdrawn episodes left out:
- *served* in month M: people with an episode on any day of M;
- *left* in M: served in M and not being served on the 1st of the next month;
- *continuing* in M: served in M − 1 and not left then (so being served on the 1st of M) — the report's continuity
  rule, continuing(M) = served(M − 1) − left(M − 1), holds by construction;
- *new* in M: served in M and not continuing (a person who left and came back is new again);
- the breakdowns (sex, age band reached in M's year, disability) come from the person's latest episode in M.
Dates are Skopje calendar days, as the provider enters them."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta

from sqlalchemy.orm import Session

from portal.models import GrantAgreement, RegisterEpisodeVersion
from portal.register.services import age_band, episodes_of, today_in_skopje


def chosen_month(raw: str, agreement: GrantAgreement) -> date:
    """The month a page asks for (`YYYY-MM`), else the last month that has ended, kept within the grant."""
    today = today_in_skopje()
    last_ended = _previous_month(today.replace(day=1))
    month = last_ended
    text = (raw or "").strip()
    if len(text) == 7 and text[4] == "-" and text[:4].isdigit() and text[5:].isdigit() and 1 <= int(text[5:]) <= 12:
        month = date(int(text[:4]), int(text[5:]), 1)
    terms = agreement.current
    return max(min(month, today.replace(day=1), terms.end_date.replace(day=1)), terms.start_date.replace(day=1))


def _next_month(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


def _previous_month(month: date) -> date:
    return (month - timedelta(days=1)).replace(day=1)


def _overlaps(v: RegisterEpisodeVersion, first: date, last: date) -> bool:
    return v.start_date <= last and (v.end_date is None or v.end_date >= first)


def month_figures(session: Session, agreement: GrantAgreement, month: date) -> dict[int, dict[str, int]]:
    """{service_type_id: {field: count}} for the month starting `month` (any day of it is accepted)."""
    month = month.replace(day=1)
    following = _next_month(month)
    previous = _previous_month(month)
    episodes = [e for e in episodes_of(session, agreement) if not e.current.withdrawn]
    versions = [e.current for e in episodes]
    keys = {e.id: e.person_key for e in episodes}
    by_type: dict[int, list[RegisterEpisodeVersion]] = defaultdict(list)
    for v in versions:
        by_type[v.service_type_id].append(v)
    result: dict[int, dict[str, int]] = {}
    for service_type_id, items in by_type.items():
        def people(first: date, last: date, items=items) -> dict[str, RegisterEpisodeVersion]:
            found: dict[str, RegisterEpisodeVersion] = {}
            for v in sorted(items, key=lambda v: (v.start_date, v.episode_id)):
                if _overlaps(v, first, last):
                    found[keys[v.episode_id]] = v  # the latest episode of the person wins
            return found

        served = people(month, following - timedelta(days=1))
        if not served:
            continue
        on_first = set(people(month, month))
        on_next_first = set(people(following, following))
        before = set(people(previous, month - timedelta(days=1)))
        continuing = before & on_first
        new = set(served) - continuing
        row = dict.fromkeys(("total", "female", "male", "age_0_17", "age_18_64", "age_65_79", "age_80_plus",
                             "with_disability", "without_disability", "new_this_month", "new_female", "new_male",
                             "new_age_0_17", "new_age_18_64", "new_age_65_79", "new_age_80_plus", "new_with_disability",
                             "new_without_disability", "continuing", "left_this_month"), 0)
        for key, v in served.items():
            parts = [v.sex.value, f"age_{age_band(v.birth_year, month)}",
                     "with_disability" if v.disability else "without_disability"]
            row["total"] += 1
            for part in parts:
                row[part] += 1
            if key in new:
                row["new_this_month"] += 1
                for part in parts:
                    row[f"new_{part}"] += 1
        row["continuing"] = len(continuing)
        row["left_this_month"] = len(set(served) - on_next_first)
        result[service_type_id] = row
    return result
