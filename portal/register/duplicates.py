"""The duplicate check across every register (issue 16): the same person (keyed hash, same key version) in the same
service type in overlapping months on two different grants — one person paid for twice, unless the ministry finds
a reason (a move between providers within a month). Withdrawn episodes count nowhere. Each pair is listed with both
episodes; the ministry resolves it once, as legitimate or corrected, with a reason (audited)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa
from flask_babel import gettext as _
from sqlalchemy.orm import Session, selectinload

from portal import audit
from portal.errors import InvalidTransition, NotAllowed, NotFound, ValidationFailed
from portal.models import (
    DuplicateOutcome,
    GrantAgreement,
    RegisterDuplicateResolution,
    RegisterEpisode,
    RegisterEpisodeVersion,
    User,
)
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


def _current():
    """Each episode joined to its current version."""
    return (sa.select(RegisterEpisode.person_key, RegisterEpisode.key_version, RegisterEpisodeVersion.service_type_id)
            .join(RegisterEpisodeVersion, sa.and_(RegisterEpisodeVersion.episode_id == RegisterEpisode.id,
                                                  RegisterEpisodeVersion.version == RegisterEpisode.current_version))
            .where(RegisterEpisodeVersion.withdrawn.is_(False)))


def find(session: Session) -> list[Pair]:
    """Every duplicate pair, resolved or not, oldest first episode first."""
    candidates = (_current().group_by(RegisterEpisode.person_key, RegisterEpisode.key_version,
                                      RegisterEpisodeVersion.service_type_id)
                  .having(sa.func.count(sa.distinct(RegisterEpisode.agreement_id)) > 1)).subquery()
    episodes = session.scalars(
        sa.select(RegisterEpisode)
        .join(candidates, sa.and_(candidates.c.person_key == RegisterEpisode.person_key,
                                  candidates.c.key_version == RegisterEpisode.key_version))
        .options(selectinload(RegisterEpisode.versions), selectinload(RegisterEpisode.agreement)
                 .selectinload(GrantAgreement.versions))
        .order_by(RegisterEpisode.id)).unique().all()
    groups: dict[tuple, list[RegisterEpisode]] = defaultdict(list)
    for episode in episodes:
        v = episode.current
        if not v.withdrawn:
            groups[(episode.person_key, episode.key_version, v.service_type_id)].append(episode)
    pairs = []
    for members in groups.values():
        for i, a in enumerate(members):
            for b in members[i + 1:]:
                if a.agreement_id == b.agreement_id:
                    continue  # within one register: refused at entry (portal.register.services)
                va, vb = a.current, b.current
                start = max(_month(va.start_date), _month(vb.start_date))
                ends = [_month(v.end_date) for v in (va, vb) if v.end_date is not None]
                end = min(ends) if ends else None
                if end is None or start <= end:
                    pairs.append(Pair(a, b, start, end))
    resolutions = {(r.first_episode_id, r.second_episode_id): r
                   for r in session.scalars(sa.select(RegisterDuplicateResolution)
                                            .options(selectinload(RegisterDuplicateResolution.resolved_by)))}
    for pair in pairs:
        pair.resolution = resolutions.get((pair.first.id, pair.second.id))
    return sorted(pairs, key=lambda p: (p.resolution is not None, p.first.id, p.second.id))


def listed(session: Session, actor: User) -> list[Pair]:
    if not access.can_view_duplicates(actor):
        raise NotAllowed()
    return find(session)


def resolve(session: Session, actor: User, first_id: int, second_id: int, outcome: str,
            reason: str) -> RegisterDuplicateResolution:
    if not access.can_resolve_duplicates(actor):
        raise NotAllowed()
    pair = next((p for p in find(session) if (p.first.id, p.second.id) == (first_id, second_id)), None)
    if pair is None:
        raise NotFound(_("This pair is not on the duplicate list (any more)."))
    if pair.resolution is not None:
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
