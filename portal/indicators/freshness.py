"""How current the indicator figures are: the *data version*.

One row (`indicator_data_version`) holds a counter. A session hook registered once by the application factory
moves it in the same transaction as every change the indicators depend on — no service of another area knows
about it:

- a monthly report accepted, superseded or returned, or first submitted (its status, `accepted_version`,
  `first_submitted_at` or `submitted_on_time` change), or deleted;
- a ledger entry inserted, changed or deleted; an agreement version added or changed; a grant moved to another
  municipality or application;
- a grievance received, acknowledged, closed, re-opened or marked sensitive; the grievance threshold changed;
- the indicator catalogue or the programme settings changed; a service type's order changed (money counts under
  a grant's first service type).

Drafts saved, documents, mail, audit rows, log-ins and everything else leave it alone.

A snapshot records the version it was computed from (and the month: timeliness rates depend on the date), so a
reader knows whether it is current from one primary-key read instead of scanning the reports.

The accepting request leaves the figures current. When a request commits a change that moved the version, the
snapshot is recomputed *after the commit, in the same request* (a Flask `after_request` hook), if the last
computation took less than `snapshot.AUTO_REFRESH_MS`; the reviewer's accept route asks for it explicitly
(`settle`), so that its message can say truthfully whether the report already counts. Recomputing after the
commit, not inside the accepting transaction, keeps the accept's row locks short and never makes an accept fail
because the aggregation did; a larger database (a slow computation) is refreshed by cron
(`flask refresh-indicators`), and every figure carries the time and version it was computed at."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any
from weakref import WeakSet

import sqlalchemy as sa
from flask import Flask, g, has_request_context
from flask_babel import format_datetime
from flask_babel import gettext as _
from sqlalchemy import event
from sqlalchemy.orm import Session

from portal import clock
from portal.models import (
    AgreementVersion,
    CalendarPeriod,
    GrantAgreement,
    Grievance,
    GrievanceSettings,
    Indicator,
    IndicatorDataVersion,
    LedgerEntry,
    MonthlyReport,
    Programme,
    RegisterEpisode,
    RegisterEpisodeVersion,
    ServiceType,
)

log = logging.getLogger(__name__)

# Model → the columns whose change moves the figures (None: any change, and any row inserted or deleted).
WATCHED: dict[type, tuple[str, ...] | None] = {
    MonthlyReport: ("status", "accepted_version", "first_submitted_at", "submitted_on_time", "month", "agreement_id"),
    LedgerEntry: None,
    AgreementVersion: None,
    GrantAgreement: ("municipality_org_id", "application_id", "organisation_id"),
    Indicator: None,
    Programme: None,
    ServiceType: ("sort_order", "active"),
    CalendarPeriod: None,
    Grievance: ("status", "acknowledged_at", "first_closed_at", "sensitive", "municipality_id", "category",
                "acknowledge_due_at", "resolve_due_at"),
    GrievanceSettings: ("sensitive_threshold",),
    # The registers (BEN_UNIQUE): an episode added, corrected, ended or withdrawn (a new version), re-keyed or
    # anonymised (its key).
    RegisterEpisode: ("person_key", "key_version", "current_version", "agreement_id"),
    RegisterEpisodeVersion: None,
}
# Inserting one of these moves the figures only when it already carries data that counts.
NEW_COUNTS_WHEN = {MonthlyReport: ("accepted_version", "first_submitted_at", "submitted_on_time"),
                   GrantAgreement: (), GrievanceSettings: ()}  # the settings row is created with the defaults
ROW = 1
_ENGINES: WeakSet = WeakSet()
_REGISTERED = False
DETECTED, PENDING, COMMITTED = "indicators_changed", "indicators_version_moved", "indicators_changed_committed"


def _relevant(obj: Any, new: bool) -> bool:
    columns = WATCHED.get(type(obj), ())
    if columns == ():
        return False
    if new:
        counted = NEW_COUNTS_WHEN.get(type(obj))
        return counted is None or any(getattr(obj, name, None) is not None for name in counted)
    if columns is None:
        return True
    state = sa.inspect(obj)
    return any(state.attrs[name].history.has_changes() for name in columns)


def changed(session: Session) -> bool:
    """Whether what is about to be flushed moves any indicator."""
    return (any(_relevant(o, True) for o in session.new)
            or any(type(o) in WATCHED for o in session.deleted)
            or any(_relevant(o, False) for o in session.dirty if type(o) in WATCHED))


def bump(session: Session) -> None:
    """Move the counter (in the caller's transaction); creates the row on a database that has none."""
    now = clock.now()
    table = IndicatorDataVersion.__table__
    connection = session.connection()
    done = connection.execute(table.update().where(table.c.id == ROW)
                              .values(version=table.c.version + 1, changed_at=now))
    if not done.rowcount:
        connection.execute(table.insert().values(id=ROW, version=2, changed_at=now))


def current(session: Session) -> int:
    return session.scalar(version_query()) or 0


def version_query() -> sa.Select:
    return sa.select(IndicatorDataVersion.version).where(IndicatorDataVersion.id == ROW)


SEEN = "indicator_data_version_seen"


def seen(session: Session, version: int | None) -> None:
    """Note the version read in the same statement as the signed-in user (`portal.auth.sessions`): a reader of kept
    answers in this request then needs no statement of its own (`known`)."""
    session.info[SEEN] = version or 0


def known(session: Session) -> int:
    """The data version for a reader that keeps answers per version: the one read with the signed-in user in this
    request (moments ago, in one statement with it), unless this session has since changed something the figures
    depend on or committed; otherwise read now."""
    version = session.info.get(SEEN)
    if version is None or session.info.get(DETECTED) or session.info.get(PENDING) or session.info.get(COMMITTED):
        return current(session)
    return version


def _enabled(session: Session) -> bool:
    """Only sessions on an application's database (not, say, a migration's own connection)."""
    try:
        bind = session.get_bind()
    except sa.exc.UnboundExecutionError:
        return False
    return getattr(bind, "engine", bind) in _ENGINES


def _before_flush(session: Session, _context: Any, _instances: Any) -> None:
    # The attribute histories still say what is about to change: note it; the counter moves at the commit.
    if not session.info.get(DETECTED) and _enabled(session) and changed(session):
        session.info[DETECTED] = True


def _before_commit(session: Session) -> None:
    # Last in the transaction, once: the row lock on the counter (PostgreSQL) is held only while committing.
    session.flush()
    if session.info.pop(DETECTED, False):
        bump(session)
        session.info[PENDING] = True


def _after_commit(session: Session) -> None:
    session.info.pop(SEEN, None)
    if session.info.pop(PENDING, False):
        session.info[COMMITTED] = True


# A savepoint rolled back (a get-or-create that lost its race, a failed flush inside one) undoes only its own part:
# what the enclosing transaction changed before it still moves the figures at the commit. Only the outermost
# transaction's rollback forgets them.

def _forget(session: Session) -> None:
    session.info.pop(DETECTED, None)
    session.info.pop(PENDING, None)


def _after_rollback(session: Session) -> None:
    enclosing = session.get_transaction()
    if enclosing is None or not enclosing.is_active:
        _forget(session)


def _after_soft_rollback(session: Session, previous: Any) -> None:
    if previous.parent is None:
        _forget(session)


def register(engine: sa.Engine) -> None:
    """Watch the sessions bound to this engine (once per process for the listeners, once per engine)."""
    global _REGISTERED
    _ENGINES.add(engine)
    if not _REGISTERED:
        event.listen(Session, "before_flush", _before_flush)
        event.listen(Session, "before_commit", _before_commit)
        event.listen(Session, "after_commit", _after_commit)
        event.listen(Session, "after_rollback", _after_rollback)
        event.listen(Session, "after_soft_rollback", _after_soft_rollback)
        _REGISTERED = True


def settle(session: Session) -> bool | None:
    """After a commit that moved the data version: recompute the snapshot now if that is quick. True: the figures
    are current; False: they will be at the next refresh; None: nothing this request committed moved them."""
    if not session.info.pop(COMMITTED, False):
        return None
    from portal.indicators import snapshot

    try:
        latest = snapshot.latest(session)
        if latest is None or latest.duration_ms >= snapshot.AUTO_REFRESH_MS:
            session.rollback()  # nothing to keep: end the read transaction
            return latest is None  # no snapshot yet: the first reader computes one from the current data
        snapshot.refresh(session)
        return True
    except Exception:  # the change itself is committed; the figures will follow at the next refresh or read
        log.exception("refreshing the indicators after a commit failed")
        session.rollback()
        return False


def accepted_message(session: Session) -> str:
    """What the reviewer is told after accepting a report: whether the figures already count it."""
    from portal.indicators import snapshot

    if settle(session) is not False:
        return _("The report has been accepted. It now counts in the indicators.")
    latest = snapshot.latest(session)
    when = format_datetime(latest.finished_at, "short") if latest is not None and latest.finished_at else ""
    return _("The report has been accepted. The indicator figures include it from the next scheduled refresh; until "
             "then the dashboard, the downloads and the API show the data as of %(time)s.", time=when)


def init_app(app: Flask) -> None:
    register(app.extensions["db_engine"])

    @app.after_request
    def _refresh_after_commit(response):
        session = g.get("db_session") if has_request_context() else None
        if session is not None and session.info.get(COMMITTED):
            settle(session)
        return response


def as_of_text(when: datetime | None) -> str:
    return when.replace(microsecond=0).isoformat() if when else ""
