"""Monthly reports under review: accepting or returning a submitted version, and the list of reports the
ministry (or a municipality, its own) reads. Reached through `portal.reports.services` too."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from flask_babel import gettext as _
from sqlalchemy.orm import Session

from portal import access, audit, clock
from portal.errors import InvalidTransition, NotAllowed, ValidationFailed
from portal.models import Application, GrantAgreement, MonthlyReport, ReportStatus, ReportVersion, User, VersionStatus
from portal.reports.services import _flush, _notify


def _submitted(report: MonthlyReport) -> ReportVersion:
    version = report.newest
    if version.status != VersionStatus.SUBMITTED:
        raise InvalidTransition(_("Only a submitted report waiting for review can be accepted or returned."))
    return version


def accept(session: Session, actor: User, report: MonthlyReport, comment: str = "") -> ReportVersion:
    """Accept the submitted version: it is locked and from now on it is the one that counts."""
    if not access.can_review_reports(actor):
        raise NotAllowed()
    version = _submitted(report)
    previous = report.in_force
    if previous is not None:
        previous.status = VersionStatus.SUPERSEDED
    now = clock.now()
    version.status = VersionStatus.ACCEPTED
    version.reviewed_by_id, version.reviewed_at, version.review_comment = actor.id, now, comment.strip()
    report.status, report.accepted_version, report.accepted_at = ReportStatus.ACCEPTED, version.version, now
    _flush(session)
    audit.record(session, actor, "report.accepted", report, before={"status": "submitted",
                                                                    "accepted_version": previous.version if previous else None},
                 after={"status": "accepted", "accepted_version": version.version, "comment": version.review_comment})
    _notify(session, report, "mail/report_accepted.txt", lambda ref: _("Monthly report %(ref)s accepted", ref=ref),
            version=version)
    return version


def return_report(session: Session, actor: User, report: MonthlyReport, comment: str) -> ReportVersion:
    """Send the submitted version back with comments; the provider corrects it in a new version."""
    if not access.can_review_reports(actor):
        raise NotAllowed()
    if not comment.strip():
        raise ValidationFailed(field_errors={"comment": [_("Say what the provider has to correct.")]})
    version = _submitted(report)
    version.status = VersionStatus.RETURNED
    version.reviewed_by_id, version.reviewed_at, version.review_comment = actor.id, clock.now(), comment.strip()
    report.status = ReportStatus.RETURNED
    _flush(session)
    audit.record(session, actor, "report.returned", report, before={"status": "submitted"},
                 after={"status": "returned", "version": version.version, "comment": version.review_comment})
    _notify(session, report, "mail/report_returned.txt",
            lambda ref: _("Monthly report %(ref)s returned with comments", ref=ref), version=version)
    return version



@dataclass
class QueueFilter:
    status: str = "submitted"
    agreement: str = ""


def review_query(actor: User, filters: QueueFilter) -> sa.Select:
    """Reports the ministry (or a municipality, its own) can see: never drafts that were never submitted."""
    query = (sa.select(MonthlyReport).join(GrantAgreement, GrantAgreement.id == MonthlyReport.agreement_id)
             .where(MonthlyReport.first_submitted_at.is_not(None))
             .options(sa.orm.joinedload(MonthlyReport.agreement).joinedload(GrantAgreement.application)
                      .joinedload(Application.organisation),
                      sa.orm.joinedload(MonthlyReport.agreement).joinedload(GrantAgreement.application)
                      .joinedload(Application.municipality_org)))
    if not actor.is_ministry:
        query = query.where(GrantAgreement.municipality_org_id == actor.organisation_id)
    if filters.status in {s.value for s in ReportStatus}:
        query = query.where(MonthlyReport.status == filters.status)
    if filters.agreement.strip():
        query = query.where(GrantAgreement.number.contains(filters.agreement.strip()))
    return query.order_by(MonthlyReport.last_submitted_at.asc(), MonthlyReport.id)


