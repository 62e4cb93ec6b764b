"""The figures of the grievance mechanism: received, acknowledged on time, resolved on time — in total, by
category, by municipality and by month (of receipt, Skopje time), as of the moment they are computed.

- *Acknowledged on time*: acknowledged (by acknowledgement, a reply, escalation or closing) by the end of its
  acknowledgement day. *Resolved on time*: first closed by the end of its resolution day (a case re-opened later
  keeps its first closing). The shares are of the cases received; both counts are published beside them.
- Sensitive cases (safeguarding, fraud) are never broken down by municipality or month: they are one line of
  their own. When there are fewer of them than the threshold (settings, default 5), they are not counted
  anywhere on the page, which says so — a small count next to a category or a place could point at a person."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal import clock
from portal.grievances.services import get_settings
from portal.models import Grievance, GrievanceCategory, Municipality


@dataclass
class Tally:
    received: int = 0
    acknowledged: int = 0
    acknowledged_on_time: int = 0
    resolved: int = 0
    resolved_on_time: int = 0
    overdue: int = 0

    def add(self, case: Grievance, now: datetime) -> None:
        from portal.grievances.services import is_overdue

        self.received += 1
        if case.acknowledged_at is not None:
            self.acknowledged += 1
            if case.acknowledged_at <= case.acknowledge_due_at:
                self.acknowledged_on_time += 1
        if case.first_closed_at is not None:
            self.resolved += 1
            if case.first_closed_at <= case.resolve_due_at:
                self.resolved_on_time += 1
        if is_overdue(case, now):
            self.overdue += 1

    def share(self, part: int) -> float | None:
        return None if not self.received else part / self.received


@dataclass
class Figures:
    as_of: datetime
    threshold: int
    total: Tally = field(default_factory=Tally)
    by_category: dict[str, Tally] = field(default_factory=dict)
    by_municipality: list[tuple[str, Tally]] = field(default_factory=list)
    by_month: list[tuple[str, Tally]] = field(default_factory=list)
    sensitive: Tally = field(default_factory=Tally)
    sensitive_shown: bool = True


def compute(session: Session, now: datetime | None = None) -> Figures:
    now = now or clock.now()
    threshold = get_settings(session).sensitive_threshold
    cases = list(session.scalars(sa.select(Grievance).order_by(Grievance.received_at)))
    names = {m.id: m.name() for m in session.scalars(sa.select(Municipality))}
    figures = Figures(as_of=now, threshold=threshold)
    sensitive = [c for c in cases if c.sensitive]
    for case in sensitive:
        figures.sensitive.add(case, now)
    figures.sensitive_shown = not sensitive or len(sensitive) >= threshold
    by_municipality: dict[int, Tally] = defaultdict(Tally)
    by_month: dict[str, Tally] = defaultdict(Tally)
    categories = {c.value: Tally() for c in GrievanceCategory}
    for case in cases:
        if case.sensitive and not figures.sensitive_shown:
            continue
        figures.total.add(case, now)
        categories[case.category.value].add(case, now)
        if not case.sensitive:
            by_municipality[case.municipality_id].add(case, now)
            by_month[clock.utc_to_skopje(case.received_at).strftime("%Y-%m")].add(case, now)
    figures.by_category = categories
    figures.by_municipality = sorted(((names.get(mid, str(mid)), tally) for mid, tally in by_municipality.items()),
                                     key=lambda item: item[0])
    figures.by_month = sorted(by_month.items())
    return figures



def rows(result: Figures) -> list[list]:
    """The page's figures as rows for a download: breakdown, group, then the counts (no case, no person)."""
    from flask_babel import gettext as _

    from portal.labels import label

    out: list[list] = []

    def add(breakdown: str, group: str, t: Tally) -> None:
        out.append([breakdown, group, t.received, t.acknowledged, t.acknowledged_on_time, t.resolved,
                    t.resolved_on_time, t.overdue])

    add(_("Total"), _("All concerns"), result.total)
    for code, tally in result.by_category.items():
        add(_("Category"), label(code, "grievance_category"), tally)
    for name, tally in result.by_municipality:
        add(_("Municipality"), name, tally)
    for month, tally in result.by_month:
        add(_("Month"), month, tally)
    return out


def header() -> list[str]:
    from flask_babel import gettext as _

    return [_("Breakdown"), _("Group"), _("Received"), _("Acknowledged at any time"), _("Acknowledged on time"), _("Resolved at any time"),
            _("Resolved on time"), _("Open and overdue")]
