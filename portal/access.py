"""Who may do what: one function per permission, `(user, object) -> bool`.

Routes use `role_required` / `permission_required` as the first check; services call the same
functions again on the object itself, so a permission is never decided in a template or route.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import abort
from flask_login import current_user

from portal.extensions import login_manager
from portal.models import Organisation, OrgKind, Role, User


def _active(user: Any) -> bool:
    return bool(user is not None and getattr(user, "is_authenticated", False))


def is_admin(user: Any) -> bool:
    return _active(user) and user.role == Role.ADMIN


def is_ministry(user: Any) -> bool:
    return _active(user) and user.is_ministry


# Users and organisations -------------------------------------------------------------

def can_manage_users(user: Any) -> bool:
    return is_admin(user)


def can_manage_organisations(user: Any) -> bool:
    return is_admin(user)


def can_verify_providers(user: Any) -> bool:
    """Ministry administrators and reviewers verify providers' registrations and licences."""
    return _active(user) and user.role in (Role.ADMIN, Role.REVIEWER)


def can_list_organisations(user: Any) -> bool:
    return can_verify_providers(user)


def can_view_organisation(user: Any, org: Organisation) -> bool:
    """Members see their own organisation; ministry staff see every organisation."""
    return _active(user) and (user.is_ministry or user.organisation_id == org.id)


def can_edit_organisation(user: Any, org: Organisation) -> bool:
    """Administrators edit any organisation; provider staff edit their own profile."""
    if is_admin(user):
        return True
    return (
        _active(user)
        and user.role == Role.PROVIDER
        and org.kind == OrgKind.PROVIDER
        and user.organisation_id == org.id
    )


def can_verify_provider(user: Any, org: Organisation) -> bool:
    return can_verify_providers(user) and org.kind == OrgKind.PROVIDER


def can_submit_for_organisation(user: Any, org: Organisation) -> bool:
    """Pending providers may prepare drafts but submit nothing until verified."""
    return _active(user) and user.organisation_id == org.id and org.is_verified


def can_view_user(user: Any, target: User) -> bool:
    return is_admin(user)


# Documents ---------------------------------------------------------------------------------------

def can_upload_document(user: Any, owner: Organisation, object_type: str | None = None) -> bool:
    """Members of the owning organisation attach evidence; administrators may add on their behalf. The
    documents of a grant agreement (the signed agreement, its amendments) are the ministry's: whoever manages
    agreements (administrators and finance officers) attaches them, and only they (the same people as the
    agreement's pages)."""
    if object_type == "agreement":
        return can_manage_agreements(user)
    if object_type == "grievance":
        return user is None  # only with a new concern, sent without an account (portal/grievances/services.py)
    if is_admin(user):
        return True
    return (_active(user) and user.organisation_id == owner.id
            and user.role in (Role.PROVIDER, Role.MUNICIPALITY))


def can_download_document(user: Any, document: Any) -> bool:
    """The owning organisation and the ministry; never monitors (they receive aggregates only,
    and personal evidence such as payroll must not reach them)."""
    if document.object_type == "call" and not document.personal:
        return True  # the texts and annexes of a call are public
    if not _active(user) or user.role == Role.MONITOR:
        return False
    if document.object_type == "grievance":
        from portal.grievances.access import can_download_evidence

        return can_download_evidence(user, document)
    return user.is_ministry or user.organisation_id == document.owner_organisation_id


# Calls ------------------------------------------------------------------------------------------

def can_manage_calls(user: Any) -> bool:
    return is_admin(user)


def can_prepare_eoi(user: Any) -> bool:
    return _active(user) and user.role == Role.MUNICIPALITY


def can_edit_eoi(user: Any, eoi: Any) -> bool:
    """Only officers of the municipality that owns it."""
    return can_prepare_eoi(user) and user.organisation_id == eoi.organisation_id


def can_screen_eois(user: Any) -> bool:
    return _active(user) and user.role in (Role.ADMIN, Role.REVIEWER)


def can_view_eoi(user: Any, eoi: Any) -> bool:
    """The municipality sees its own; the ministry sees it once submitted (drafts stay private)."""
    from portal.models import EoiStatus

    if can_edit_eoi(user, eoi):
        return True
    return _active(user) and user.is_ministry and eoi.status != EoiStatus.DRAFT


def can_message_eoi(user: Any, eoi: Any) -> bool:
    """The exchange on an EOI is between its municipality and the ministry staff who screen EOIs;
    others who may read it (finance) do not write in it."""
    return can_edit_eoi(user, eoi) or (can_screen_eois(user) and can_view_eoi(user, eoi))


# Grant applications and their review -----------------------------------------------------------

def can_prepare_application(user: Any) -> bool:
    return _active(user) and user.role == Role.PROVIDER


def can_edit_application(user: Any, application: Any) -> bool:
    """Only staff of the provider that owns it."""
    return can_prepare_application(user) and user.organisation_id == application.organisation_id


def can_endorse_applications(user: Any) -> bool:
    return _active(user) and user.role == Role.MUNICIPALITY


def can_endorse(user: Any, application: Any) -> bool:
    """Only officers of the municipality the application names."""
    return can_endorse_applications(user) and user.organisation_id == application.municipality_org_id


def can_view_application(user: Any, application: Any) -> bool:
    """The provider sees its own; the named municipality and the ministry see it once submitted."""
    from portal.models import ApplicationStatus

    if can_edit_application(user, application):
        return True
    if not _active(user) or application.status == ApplicationStatus.DRAFT:
        return False
    return user.is_ministry or can_endorse(user, application)


def can_screen_applications(user: Any) -> bool:
    """Eligibility screening, the review lists and the ranking: ministry administrators and reviewers."""
    return _active(user) and user.role in (Role.ADMIN, Role.REVIEWER)


def can_view_ranking(user: Any) -> bool:
    return _active(user) and user.role in (Role.ADMIN, Role.REVIEWER, Role.FINANCE)


def is_chair(user: Any, call: Any) -> bool:
    return _active(user) and call.chair_id is not None and user.id == call.chair_id


def can_assign_reviewers(user: Any, call: Any) -> bool:
    """Administrators and the committee chair of the call."""
    return is_admin(user) or is_chair(user, call)


def can_score(user: Any, assignment: Any) -> bool:
    return _active(user) and user.is_ministry and user.id == assignment.reviewer_id


def can_see_scores(user: Any, application: Any) -> bool:
    """Blind until submitted: an assigned reviewer sees the others' scores only after submitting
    their own; administrators and the chair see them all; nobody outside the ministry does."""
    if is_admin(user) or (is_ministry(user) and is_chair(user, application.call)):
        return True
    if not is_ministry(user):
        return False
    return any(a.reviewer_id == user.id and a.reviews for a in application.assignments)


def can_decide_awards(user: Any) -> bool:
    """Administrators and reviewers; the service also refuses anyone who scored the application."""
    return _active(user) and user.role in (Role.ADMIN, Role.REVIEWER)


# Grant agreements and money -------------------------------------------------------------------

def can_manage_agreements(user: Any) -> bool:
    """Agreements and amendments: ministry administrators and finance officers."""
    return _active(user) and user.role in (Role.ADMIN, Role.FINANCE)


def can_request_release(user: Any) -> bool:
    """Finance officers request tranche releases and mark them paid."""
    return _active(user) and user.role == Role.FINANCE


def can_view_agreement(user: Any, agreement: Any) -> bool:
    """The ministry; the provider that signed it; the municipality where it runs. Monitors see totals only."""
    if not _active(user):
        return False
    return user.is_ministry or user.organisation_id in (agreement.organisation_id, agreement.municipality_org_id)


def can_view_envelope(user: Any) -> bool:
    """The envelope dashboard and the quarterly financial report: the ministry and the monitors."""
    return _active(user) and (user.is_ministry or user.role == Role.MONITOR)


def can_download_ledger(user: Any) -> bool:
    return _active(user) and user.is_ministry


def can_approve_release(user: Any) -> bool:
    """A second ministry user (administrator or finance officer) approves; the service refuses the requester."""
    return _active(user) and user.role in (Role.ADMIN, Role.FINANCE)


# Monthly reports ----------------------------------------------------------------------------

def can_prepare_reports(user: Any) -> bool:
    return _active(user) and user.role == Role.PROVIDER


def can_edit_reports_of(user: Any, agreement: Any) -> bool:
    """Only staff of the provider that holds the grant prepare, submit and correct its reports."""
    return can_prepare_reports(user) and user.organisation_id == agreement.organisation_id


def can_review_reports(user: Any) -> bool:
    """Ministry administrators and reviewers accept or return submitted reports."""
    return _active(user) and user.role in (Role.ADMIN, Role.REVIEWER)


def can_view_report(user: Any, report: Any) -> bool:
    """The provider sees its own reports, drafts included; the ministry and the grant's municipality see a
    report once it has been submitted (drafts stay private). Monitors see aggregates only."""
    if can_edit_reports_of(user, report.agreement):
        return True
    if not _active(user) or report.first_submitted_at is None:
        return False
    return user.is_ministry or (user.role == Role.MUNICIPALITY and user.organisation_id == report.agreement.municipality_org_id)


def can_read_submitted_reports(user: Any) -> bool:
    """The review list and links into reports: the ministry, and municipalities for their own grants (monitors
    see aggregates only)."""
    return _active(user) and (user.is_ministry or user.role == Role.MUNICIPALITY)


def can_view_completeness(user: Any) -> bool:
    """The reporting-rate page: the ministry and the monitors see every grant, a municipality its own."""
    return _active(user) and (user.is_ministry or user.role in (Role.MONITOR, Role.MUNICIPALITY))


def can_manage_report_settings(user: Any) -> bool:
    return is_admin(user)


# Grantee financial reports (issue 18) -----------------------------------------------------------

def can_prepare_financial_reports(user: Any) -> bool:
    return _active(user) and user.role == Role.PROVIDER


def can_edit_financial_reports_of(user: Any, agreement: Any) -> bool:
    """Only staff of the provider that holds the grant prepare, submit and revise its financial reports."""
    return can_prepare_financial_reports(user) and user.organisation_id == agreement.organisation_id


def can_review_financial_reports(user: Any) -> bool:
    """Finance officers and administrators accept or return submitted financial reports (one person suffices)."""
    return _active(user) and user.role in (Role.ADMIN, Role.FINANCE)


def can_read_financial_reports(user: Any) -> bool:
    """The list of submitted financial reports: the ministry."""
    return _active(user) and user.is_ministry


def can_view_financial_report(user: Any, report: Any) -> bool:
    """A financial report itself (lines, comments, versions): the provider, drafts included; the ministry once
    submitted. Municipalities and monitors see the grant's finance summary only."""
    if can_edit_financial_reports_of(user, report.agreement):
        return True
    return _active(user) and user.is_ministry and report.first_submitted_at is not None


def can_request_budget_amendment(user: Any, agreement: Any) -> bool:
    """Budget amendments (issue 18): the provider that holds the grant asks to move money between its lines."""
    return can_edit_financial_reports_of(user, agreement)


def can_decide_budget_amendments(user: Any) -> bool:
    """Finance officers and administrators approve or reject budget amendments."""
    return _active(user) and user.role in (Role.ADMIN, Role.FINANCE)


def can_view_budget_amendments(user: Any, agreement: Any) -> bool:
    """A grant's budget amendments (reasons, lines, decisions): the ministry and the provider of the grant.
    Municipalities and monitors see the budget in force on the finance summary only."""
    return _active(user) and (user.is_ministry or can_edit_financial_reports_of(user, agreement))


def can_view_grant_finance(user: Any, agreement: Any) -> bool:
    """A grant's budget vs spent vs disbursed summary: the ministry and the monitors; the provider and the
    municipality of the grant."""
    if not _active(user):
        return False
    return (user.is_ministry or user.role == Role.MONITOR
            or user.organisation_id in (agreement.organisation_id, agreement.municipality_org_id))


def can_view_finance_overview(user: Any) -> bool:
    """Spending and co-financing against plan per call and for the programme (summaries, never a report's lines
    or documents): everyone signed in, each seeing the rows of `finance_overview_scope`."""
    return _active(user) and (user.is_ministry or user.role in (Role.MONITOR, Role.MUNICIPALITY, Role.PROVIDER))


def finance_overview_scope(user: Any) -> tuple[str, int] | None:
    """Whose grants a person sees in the spending views and the overdue financial reports: None for every grant
    (the ministry and the monitors); ("municipality", org) or ("provider", org) for their own grants only."""
    if user.is_ministry or user.role == Role.MONITOR:
        return None
    return ("municipality" if user.role == Role.MUNICIPALITY else "provider", user.organisation_id)


# Indicators and the API -----------------------------------------------------------------------

def can_view_indicators(user: Any) -> bool:
    """Results indicators and their downloads (aggregates only): the ministry and the World Bank monitors."""
    return _active(user) and (user.is_ministry or user.role == Role.MONITOR)


def can_manage_indicators(user: Any) -> bool:
    return is_admin(user)


def can_comment_isr(user: Any) -> bool:
    """The ministry's comment per indicator and reporting period in the ISR (`portal.indicators.isr`): administrators,
    who keep the catalogue, and reviewers, who accept the reports the figures come from. Finance and the monitors
    read the comments with the indicators."""
    return _active(user) and user.role in (Role.ADMIN, Role.REVIEWER)


def can_use_api(user: Any) -> bool:
    """The read-only JSON API and personal tokens for it: the same people who see the indicators."""
    return can_view_indicators(user)


# Reference data and audit ---------------------------------------------------------------

def can_manage_reference(user: Any) -> bool:
    return is_admin(user)


def can_view_audit(user: Any) -> bool:
    return is_admin(user)


# Route decorators --------------------------------------------------------------------------

def role_required(*roles: Role) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def decorator(view: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if not current_user.is_authenticated:
                return login_manager.unauthorized()
            if roles and current_user.role not in roles:
                abort(403)
            return view(*args, **kwargs)

        return wrapped

    return decorator


def permission_required(check: Callable[[Any], bool]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def decorator(view: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if not current_user.is_authenticated:
                return login_manager.unauthorized()
            if not check(current_user):
                abort(403)
            return view(*args, **kwargs)

        return wrapped

    return decorator
