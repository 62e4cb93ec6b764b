"""What each person has to do next: the data behind the home page of each role."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal import clock
from portal.db import utcnow
from portal.models import (
    AuditEvent,
    Call,
    CallKind,
    CallStatus,
    EoiStatus,
    ExpressionOfInterest,
    Organisation,
    OrgKind,
    OrgStatus,
    Role,
    User,
)

LICENCE_WARNING_DAYS = 60


def pending_providers(session: Session, limit: int = 10) -> list[Organisation]:
    return list(session.scalars(
        sa.select(Organisation)
        .where(Organisation.kind == OrgKind.PROVIDER, Organisation.status == OrgStatus.PENDING)
        .order_by(Organisation.created_at)
        .limit(limit)
    ))


def awaiting_screening(session: Session) -> list[tuple[Call, int]]:
    """EOI calls with the number of expressions of interest waiting for a decision, in one query."""
    rows = session.execute(
        sa.select(Call, sa.func.count(ExpressionOfInterest.id))
        .join(ExpressionOfInterest, ExpressionOfInterest.call_id == Call.id)
        .where(ExpressionOfInterest.status.in_((EoiStatus.SUBMITTED, EoiStatus.CLARIFICATION)))
        .group_by(Call.id).order_by(Call.closes_at)).all()
    return [(call, count) for call, count in rows]


def dashboard_for(session: Session, user: User) -> dict[str, Any]:
    from portal.calls.services import committable_allocation, envelope_summary
    from portal.grants.ledger import DEFINITIONS

    data: dict[str, Any] = {"org": user.organisation, "envelope": envelope_summary(session)["envelope"],
                            "allocated": committable_allocation(session),
                            "allocated_definition": str(DEFINITIONS["allocated"])}
    if user.role in (Role.ADMIN, Role.REVIEWER):
        data["pending_providers"] = pending_providers(session)
        data["pending_count"] = session.scalar(
            sa.select(sa.func.count()).where(Organisation.kind == OrgKind.PROVIDER,
                                              Organisation.status == OrgStatus.PENDING)) or 0
    if user.role in (Role.ADMIN, Role.REVIEWER):
        data["screening"] = awaiting_screening(session)
    if user.role == Role.MUNICIPALITY:
        from portal.eois.services import for_municipality, status_label

        now = clock.now()
        data["eois"] = for_municipality(session, user.organisation_id)
        started = {e.call_id for e in data["eois"]}
        data["open_calls"] = [c for c in session.scalars(
            sa.select(Call).where(Call.kind == CallKind.EOI, Call.status == CallStatus.PUBLISHED).order_by(Call.closes_at))
            if c.is_open(now) and c.id not in started]
        data["eoi_status_label"] = status_label
    if user.role in (Role.ADMIN, Role.REVIEWER):
        from portal.applications.review import my_assignments

        data["assignments"] = [a for a in my_assignments(session, user) if not a.reviews
                               and a.conflict.value != "declared"][:10]
        data["grant_calls"] = list(session.scalars(sa.select(Call).where(
            Call.kind == CallKind.GRANT, Call.status != CallStatus.DRAFT).order_by(Call.closes_at.desc())))
    if user.role == Role.MUNICIPALITY:
        from portal.applications.services import for_municipality as applications_naming

        data["to_endorse"] = [a for a in applications_naming(session, user.organisation_id)
                              if a.status.value == "submitted" and a.endorsement.value == "pending"]
    if user.role == Role.PROVIDER:
        from portal.applications.services import for_provider, open_grant_calls
        from portal.applications.services import status_label as app_status_label

        data["app_status_label"] = app_status_label
        data["applications"] = for_provider(session, user.organisation_id)
        data["open_grant_calls"] = open_grant_calls(session)
    if user.role in (Role.ADMIN, Role.FINANCE):
        from portal.grants.four_eyes import work_for

        # Four eyes: only what this person may act on (never their own requests to approve).
        data["tranche_work"] = work_for(session, user)
    if user.role == Role.ADMIN:
        data["invited_count"] = session.scalar(
            sa.select(sa.func.count()).where(User.password_hash.is_(None), User.active.is_(True))) or 0
        data["user_count"] = session.scalar(sa.select(sa.func.count()).select_from(User)) or 0
        data["recent_events"] = list(session.scalars(
            sa.select(AuditEvent).order_by(AuditEvent.at.desc(), AuditEvent.id.desc()).limit(8)))
    if user.role == Role.PROVIDER:
        from portal.reports.services import provider_overview, timeliness_label

        data["timeliness_label"] = timeliness_label
        data["report_todo"] = [(agreement, row) for agreement, rows in provider_overview(session, user) for row in rows
                               if row.report is None or row.report.status.value in ("draft", "returned")][:8]
    if user.role in (Role.ADMIN, Role.REVIEWER):
        from portal.models import MonthlyReport, ReportStatus

        data["reports_waiting"] = session.scalar(sa.select(sa.func.count(MonthlyReport.id)).where(
            MonthlyReport.status == ReportStatus.SUBMITTED)) or 0
    if user.role == Role.PROVIDER:
        org = user.organisation
        today = utcnow().date()
        data["licence_valid"] = org.licence_valid_on(today)
        data["licence_expires_soon"] = bool(
            org.licence_valid_until and today <= org.licence_valid_until <= today + timedelta(days=LICENCE_WARNING_DAYS))
    if user.role in (Role.ADMIN, Role.REVIEWER):
        from portal.grievances.services import overdue_for

        data["grievances_overdue"] = overdue_for(session, user)  # only the cases this handler may see
    if user.role in (Role.MUNICIPALITY, Role.PROVIDER, Role.MONITOR):
        data["colleagues"] = list(session.scalars(
            sa.select(User).where(User.organisation_id == user.organisation_id, User.active.is_(True))
            .order_by(User.full_name)))
    return data


def database_ok(session: Session) -> bool:
    try:
        session.execute(sa.text("SELECT 1"))
        return True
    except sa.exc.SQLAlchemyError:
        session.rollback()
        return False
