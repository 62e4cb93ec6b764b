"""The duplicate check across every register (issue 16): the same person (keyed hash, same key version) in the same
service type in overlapping months on two different grants — one person paid for twice, unless the ministry finds
a reason (a move between providers within a month). Withdrawn episodes count nowhere. Each pair is listed with both
episodes; the ministry resolves it once, as legitimate or corrected, with a reason (audited)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa
from flask_babel import gettext as _
from sqlalchemy.orm import Session, selectinload

from portal import audit
from portal.errors import InvalidTransition, NotAllowed, NotFound, ValidationFailed
from portal.models import (
    Application,
    DuplicateOutcome,
    GrantAgreement,
    RegisterDuplicateResolution,
    RegisterEpisode,
    RegisterEpisodeVersion,
    User,
)
from portal.pagination import Page
from portal.register import access
from portal.register.services import no_number_in

MAX_REASON = 5000


@dataclass
class Pair:
    first: RegisterEpisode
    second: RegisterEpisode
    months_from: date  # first of the first overlapping month
    months_to: date | None  # first of the last overlapping month; None: both still open
    resolution: RegisterDuplicateResolution | None = None


def _month(day: date) -> date:
    return day.replace(day=1)


def _month_number(column):
    """A date as a count of months (year × 12 + month), the same on PostgreSQL and SQLite."""
    return sa.extract("year", column) * 12 + sa.extract("month", column)


OPEN_END = 10_000 * 12  # an episode still open: its months run on


def pairs_query(first_id: int | None = None, second_id: int | None = None) -> sa.Select:
    """Every duplicate pair in one statement: each episode's current version (withdrawn ones left out), joined to
    itself on the key, the key version and the service type, under two different grants, with overlapping months;
    unresolved pairs first, then by the first episode and the second. Rows: (first id, second id, resolution id)."""
    version = RegisterEpisodeVersion
    current = (sa.select(RegisterEpisode.id, RegisterEpisode.agreement_id, RegisterEpisode.person_key,
                         RegisterEpisode.key_version, version.service_type_id,
                         _month_number(version.start_date).label("month_from"),
                         sa.func.coalesce(_month_number(version.end_date), OPEN_END).label("month_to"))
               .join(version, sa.and_(version.episode_id == RegisterEpisode.id,
                                      version.version == RegisterEpisode.current_version))
               .where(version.withdrawn.is_(False))).subquery()
    a, b = current.alias("a"), current.alias("b")
    resolution = RegisterDuplicateResolution
    query = (sa.select(a.c.id.label("first_id"), b.c.id.label("second_id"), resolution.id.label("resolution_id"))
            .join(b, sa.and_(b.c.person_key == a.c.person_key, b.c.key_version == a.c.key_version,
                             b.c.service_type_id == a.c.service_type_id, b.c.id > a.c.id,
                             b.c.agreement_id != a.c.agreement_id,
                             a.c.month_from <= b.c.month_to, b.c.month_from <= a.c.month_to))
            .outerjoin(resolution, sa.and_(resolution.first_episode_id == a.c.id, resolution.second_episode_id == b.c.id))
            .order_by(resolution.id.is_not(None), a.c.id, b.c.id))
    if first_id is not None:
        query = query.where(a.c.id == first_id, b.c.id == second_id)
    return query


def _pairs(session: Session, rows: list) -> list[Pair]:
    """The pairs of these rows, with both episodes (and their grants) read in one go."""
    ids = {i for row in rows for i in (row.first_id, row.second_id)}
    episodes = {e.id: e for e in session.scalars(
        sa.select(RegisterEpisode).where(RegisterEpisode.id.in_(ids))
        .options(selectinload(RegisterEpisode.versions).selectinload(RegisterEpisodeVersion.service_type),
                 selectinload(RegisterEpisode.agreement).selectinload(GrantAgreement.versions),
                 selectinload(RegisterEpisode.agreement).selectinload(GrantAgreement.application)
                 .selectinload(Application.organisation)))} if ids else {}
    resolutions = {r.id: r for r in session.scalars(
        sa.select(RegisterDuplicateResolution).where(RegisterDuplicateResolution.id.in_(
            [row.resolution_id for row in rows if row.resolution_id is not None]))
        .options(selectinload(RegisterDuplicateResolution.resolved_by)))}
    pairs = []
    for row in rows:
        first, second = episodes[row.first_id], episodes[row.second_id]
        va, vb = first.current, second.current
        ends = [_month(v.end_date) for v in (va, vb) if v.end_date is not None]
        pairs.append(Pair(first, second, max(_month(va.start_date), _month(vb.start_date)), min(ends) if ends else None,
                          resolutions.get(row.resolution_id)))
    return pairs


def find(session: Session) -> list[Pair]:
    """Every duplicate pair, resolved or not: the unresolved first, then by the first episode and the second."""
    return _pairs(session, list(session.execute(pairs_query())))


def pair(session: Session, first_id: int, second_id: int) -> Pair | None:
    """One pair of the list, or None when these two episodes are not (or no longer) a duplicate."""
    found = _pairs(session, list(session.execute(pairs_query(first_id, second_id))))
    return found[0] if found else None


def listed(session: Session, actor: User, page: int = 1, per_page: int = 25) -> Page[Pair]:
    """A page of the list: the pairs and their number in one run of the statement (a window count), then the page's
    episodes; a page past the last shows the last."""
    if not access.can_view_duplicates(actor):
        raise NotAllowed()
    query = pairs_query().add_columns(sa.func.count().over().label("total"))
    page = max(1, page)
    rows = list(session.execute(query.limit(per_page).offset((page - 1) * per_page)))
    total = rows[0].total if rows else 0
    if not rows and page > 1:
        total = session.scalar(sa.select(sa.func.count()).select_from(pairs_query().order_by(None).subquery())) or 0
        page = max(1, math.ceil(total / per_page))
        rows = list(session.execute(query.limit(per_page).offset((page - 1) * per_page)))
    return Page(items=_pairs(session, rows), page=page, per_page=per_page, total=total)


def resolve(session: Session, actor: User, first_id: int, second_id: int, outcome: str,
            reason: str) -> RegisterDuplicateResolution:
    if not access.can_resolve_duplicates(actor):
        raise NotAllowed()
    found = pair(session, first_id, second_id)
    if found is None:
        raise NotFound(_("This pair is not on the duplicate list (any more)."))
    if found.resolution is not None:
        raise InvalidTransition(_("This pair has already been resolved."))
    errors: dict[str, list[str]] = {}
    reason = (reason or "").strip()
    if outcome not in {o.value for o in DuplicateOutcome}:
        errors["outcome"] = [_("Choose whether the pair is legitimate or has been corrected.")]
    if not reason:
        errors["reason"] = [_("Give the reason for the decision.")]
    elif len(reason) > MAX_REASON:
        errors["reason"] = [_("At most %(n)s characters.", n=MAX_REASON)]
    no_number_in(errors, reason=reason)
    if errors:
        raise ValidationFailed(field_errors=errors)
    row = RegisterDuplicateResolution(first_episode_id=first_id, second_episode_id=second_id,
                                      outcome=DuplicateOutcome(outcome), reason=reason, resolved_by_id=actor.id)
    session.add(row)
    session.flush()
    audit.record(session, actor, "register.duplicate_resolved", row,
                 after={"first_episode_id": first_id, "second_episode_id": second_id, "outcome": outcome,
                        "reason": reason})
    return row
