"""Retention of the service-user register (issue 16): REGISTER_RETENTION_YEARS (default 5) after a grant's agreement
ends, its register is anonymised by `flask register-anonymise` (run it from cron, e.g. monthly, with the database
owner's connection like `db upgrade`: the application's own role may not UPDATE versions at all).

Anonymising an episode replaces its key by a random one (the person can no longer be linked to any other episode,
nor found again from a personal number) and blanks the ЦСР decision number, the Centre, the provider's reference
and the correction notes in every version — the only change the database allows on versions. What remains (service,
dates, sex, year of birth, disability, municipality) still counts in figures of the past."""

from __future__ import annotations

import secrets
from datetime import date

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import Session

from portal import audit, clock
from portal.grants.services import add_months
from portal.models import GrantAgreement, RegisterEpisode, RegisterEpisodeVersion
from portal.reports.services import today_in_skopje


def due_agreements(session: Session, today: date | None = None) -> list[GrantAgreement]:
    """Agreements that ended more than the retention period ago and still have episodes to anonymise."""
    today = today or today_in_skopje()
    years = int(current_app.config.get("REGISTER_RETENTION_YEARS", 5))
    with_episodes = sa.select(RegisterEpisode.agreement_id).where(RegisterEpisode.anonymised_at.is_(None))
    return [a for a in session.scalars(sa.select(GrantAgreement).where(GrantAgreement.id.in_(with_episodes))
                                       .order_by(GrantAgreement.id))
            if add_months(a.current.end_date, 12 * years) < today]


def anonymise(session: Session, agreement: GrantAgreement) -> int:
    """Anonymise every episode of one grant's register; audited with the count only."""
    episodes = session.scalars(sa.select(RegisterEpisode).where(RegisterEpisode.agreement_id == agreement.id,
                                                                RegisterEpisode.anonymised_at.is_(None))).all()
    if not episodes:
        return 0
    ids = [e.id for e in episodes]
    session.execute(sa.update(RegisterEpisodeVersion).where(RegisterEpisodeVersion.episode_id.in_(ids))
                    .values(decision_number="", decision_centre="", local_reference="", note="")
                    .execution_options(synchronize_session=False))
    table = RegisterEpisode.__table__
    now = clock.now()
    session.execute(sa.update(table).where(table.c.id == sa.bindparam("episode"))
                    .values(person_key=sa.bindparam("new_key"), anonymised_at=now),
                    [{"episode": i, "new_key": secrets.token_hex(32)} for i in ids])
    session.expire_all()
    audit.record(session, None, "register.anonymised", agreement, after={"episodes": len(ids)}, actor_email="cli")
    return len(ids)


def anonymise_due(session: Session, today: date | None = None) -> dict[str, int]:
    agreements = due_agreements(session, today)
    episodes = sum(anonymise(session, a) for a in agreements)
    return {"grants": len(agreements), "episodes": episodes}
