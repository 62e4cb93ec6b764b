"""Who may do what (`portal/access.py`), decided without the database: every permission asked of every role,
of a signed-out visitor and of nobody, on objects of the person's own organisation and of another one.

The access matrix (`tests/test_access_matrix.py`) checks the routes' status codes and the scoping tests what
lists contain; this file pins each rule itself, so a permission that widens or narrows by one role, or stops
comparing the organisation, fails here in milliseconds (it is the test list of `make mutation` for
`portal/access.py`)."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from flask_login import AnonymousUserMixin
from werkzeug.exceptions import Forbidden

from portal import access
from portal.models import ApplicationStatus, EoiStatus, Organisation, OrgKind, OrgStatus, Role, User

MINISTRY, MUNICIPALITY, PROVIDER, MONITOR, OTHER_MUNICIPALITY, OTHER_PROVIDER = 1, 2, 3, 4, 5, 6
ORG_OF = {Role.ADMIN: MINISTRY, Role.REVIEWER: MINISTRY, Role.FINANCE: MINISTRY,
          Role.MUNICIPALITY: MUNICIPALITY, Role.PROVIDER: PROVIDER, Role.MONITOR: MONITOR}
USER_ID = {Role.ADMIN: 11, Role.REVIEWER: 12, Role.FINANCE: 13, Role.MUNICIPALITY: 14, Role.PROVIDER: 15,
           Role.MONITOR: 16}
ROLES = list(Role)
A, R, F, M, P, MON = Role.ADMIN, Role.REVIEWER, Role.FINANCE, Role.MUNICIPALITY, Role.PROVIDER, Role.MONITOR


def person(role: Role, organisation_id: int | None = None, user_id: int | None = None) -> User:
    return User(id=user_id or USER_ID[role], role=role,
                organisation_id=ORG_OF[role] if organisation_id is None else organisation_id)


def organisation(org_id: int, kind: OrgKind, status: OrgStatus = OrgStatus.VERIFIED) -> Organisation:
    return Organisation(id=org_id, kind=kind, status=status)


#: Nobody signed in: no user at all, Flask-Login's anonymous user, and an object that says nothing about
#: being signed in (a role alone never grants anything).
NOBODY = [None, AnonymousUserMixin(), SimpleNamespace(role=Role.ADMIN, is_ministry=True, organisation_id=MINISTRY)]

#: Permissions that depend on the role alone, and the roles that hold them.
BY_ROLE = {
    "is_admin": {A},
    "is_ministry": {A, R, F},
    "can_manage_users": {A},
    "can_manage_organisations": {A},
    "can_verify_providers": {A, R},
    "can_list_organisations": {A, R},
    "can_manage_calls": {A},
    "can_prepare_eoi": {M},
    "can_screen_eois": {A, R},
    "can_prepare_application": {P},
    "can_endorse_applications": {M},
    "can_screen_applications": {A, R},
    "can_view_ranking": {A, R, F},
    "can_decide_awards": {A, R},
    "can_manage_agreements": {A, F},
    "can_request_release": {F},
    "can_view_envelope": {A, R, F, MON},
    "can_download_ledger": {A, R, F},
    "can_approve_release": {A, F},
    "can_prepare_reports": {P},
    "can_review_reports": {A, R},
    "can_read_submitted_reports": {A, R, F, M},
    "can_view_completeness": {A, R, F, MON, M},
    "can_manage_report_settings": {A},
    "can_prepare_financial_reports": {P},
    "can_review_financial_reports": {A, F},
    "can_read_financial_reports": {A, R, F},
    "can_decide_budget_amendments": {A, F},
    "can_view_finance_overview": {A, R, F, M, P, MON},
    "can_view_indicators": {A, R, F, MON},
    "can_manage_indicators": {A},
    "can_comment_isr": {A, R},
    "can_use_api": {A, R, F, MON},
    "can_manage_reference": {A},
    "can_view_audit": {A},
}


@pytest.mark.parametrize("name", sorted(BY_ROLE))
def test_each_role_permission_is_held_by_exactly_its_roles(name):
    check = getattr(access, name)
    holders = {role for role in ROLES if check(person(role))}
    assert holders == BY_ROLE[name]
    for nobody in NOBODY:
        assert check(nobody) is False


def who(check, *args) -> set[Role]:
    return {role for role in ROLES if check(person(role), *args)}


# Organisations and users -------------------------------------------------------------------------------

def test_organisations_are_seen_by_their_members_and_the_ministry():
    provider_org = organisation(PROVIDER, OrgKind.PROVIDER)
    assert who(access.can_view_organisation, provider_org) == {A, R, F, P}
    assert who(access.can_view_organisation, organisation(MUNICIPALITY, OrgKind.MUNICIPALITY)) == {A, R, F, M}
    assert who(access.can_view_organisation, organisation(OTHER_PROVIDER, OrgKind.PROVIDER)) == {A, R, F}
    assert not any(access.can_view_organisation(nobody, provider_org) for nobody in NOBODY)


def test_a_provider_edits_its_own_provider_profile_and_administrators_any():
    assert who(access.can_edit_organisation, organisation(PROVIDER, OrgKind.PROVIDER)) == {A, P}
    assert who(access.can_edit_organisation, organisation(OTHER_PROVIDER, OrgKind.PROVIDER)) == {A}
    assert who(access.can_edit_organisation, organisation(MUNICIPALITY, OrgKind.MUNICIPALITY)) == {A}
    # A provider-role account attached to an organisation that is not a provider edits nothing.
    assert not access.can_edit_organisation(person(P, organisation_id=MUNICIPALITY),
                                            organisation(MUNICIPALITY, OrgKind.MUNICIPALITY))
    assert not any(access.can_edit_organisation(nobody, organisation(PROVIDER, OrgKind.PROVIDER)) for nobody in NOBODY)


def test_only_providers_are_verified_and_only_by_administrators_and_reviewers():
    assert who(access.can_verify_provider, organisation(PROVIDER, OrgKind.PROVIDER)) == {A, R}
    assert who(access.can_verify_provider, organisation(MUNICIPALITY, OrgKind.MUNICIPALITY)) == set()


def test_only_a_verified_organisations_own_members_submit_for_it():
    verified = organisation(PROVIDER, OrgKind.PROVIDER, OrgStatus.VERIFIED)
    pending = organisation(PROVIDER, OrgKind.PROVIDER, OrgStatus.PENDING)
    assert who(access.can_submit_for_organisation, verified) == {P}
    assert who(access.can_submit_for_organisation, pending) == set()
    assert not any(access.can_submit_for_organisation(nobody, verified) for nobody in NOBODY)


def test_only_administrators_see_user_accounts():
    assert who(access.can_view_user, person(P)) == {A}


# Documents ----------------------------------------------------------------------------------------------

def test_uploads_by_the_owning_organisation_and_administrators():
    provider_org = organisation(PROVIDER, OrgKind.PROVIDER)
    municipality_org = organisation(MUNICIPALITY, OrgKind.MUNICIPALITY)
    assert who(access.can_upload_document, provider_org) == {A, P}
    assert who(access.can_upload_document, municipality_org) == {A, M}
    assert who(access.can_upload_document, organisation(OTHER_PROVIDER, OrgKind.PROVIDER)) == {A}
    # A monitor's own organisation: monitors never upload.
    assert who(access.can_upload_document, organisation(MONITOR, OrgKind.MONITOR)) == {A}
    assert not any(access.can_upload_document(nobody, provider_org) for nobody in NOBODY)


def test_agreement_documents_are_attached_by_whoever_manages_agreements():
    provider_org = organisation(PROVIDER, OrgKind.PROVIDER)
    assert who(access.can_upload_document, provider_org, "agreement") == {A, F}
    assert who(access.can_upload_document, provider_org, "report") == {A, P}


def test_grievance_evidence_is_uploaded_only_without_an_account():
    provider_org = organisation(PROVIDER, OrgKind.PROVIDER)
    assert who(access.can_upload_document, provider_org, "grievance") == set()
    assert access.can_upload_document(None, provider_org, "grievance") is True
    assert access.can_upload_document(None, provider_org) is False


def document(object_type: str = "report", owner: int = PROVIDER, personal: bool = False, object_id: str = "1"):
    return SimpleNamespace(object_type=object_type, owner_organisation_id=owner, personal=personal,
                           object_id=object_id)


def test_downloads_by_the_owner_and_the_ministry_never_monitors():
    assert who(access.can_download_document, document()) == {A, R, F, P}
    assert who(access.can_download_document, document(owner=MUNICIPALITY)) == {A, R, F, M}
    # A monitor's own organisation's document stays closed to the monitor.
    assert who(access.can_download_document, document(owner=MONITOR)) == {A, R, F}
    assert not any(access.can_download_document(nobody, document()) for nobody in NOBODY)


def test_call_texts_are_public_but_personal_annexes_are_not():
    public = document("call", owner=MINISTRY)
    assert who(access.can_download_document, public) == set(ROLES)
    assert all(access.can_download_document(nobody, public) for nobody in NOBODY)
    personal = document("call", owner=MINISTRY, personal=True)
    assert who(access.can_download_document, personal) == {A, R, F}
    assert access.can_download_document(None, personal) is False


def test_grievance_evidence_goes_through_the_grievance_rules():
    # Not a case number: nobody downloads it, not even the ministry that may download any other document.
    assert who(access.can_download_document, document("grievance", owner=MINISTRY, object_id="x")) == set()


# Calls and expressions of interest ------------------------------------------------------------------------

def eoi(status: EoiStatus, owner: int = MUNICIPALITY):
    return SimpleNamespace(status=status, organisation_id=owner)


def test_an_eoi_is_edited_by_its_municipality_and_seen_by_the_ministry_once_submitted():
    assert who(access.can_edit_eoi, eoi(EoiStatus.DRAFT)) == {M}
    assert who(access.can_edit_eoi, eoi(EoiStatus.DRAFT, OTHER_MUNICIPALITY)) == set()
    assert who(access.can_view_eoi, eoi(EoiStatus.DRAFT)) == {M}
    assert who(access.can_view_eoi, eoi(EoiStatus.SUBMITTED)) == {A, R, F, M}
    assert who(access.can_view_eoi, eoi(EoiStatus.SUBMITTED, OTHER_MUNICIPALITY)) == {A, R, F}
    assert not any(access.can_view_eoi(nobody, eoi(EoiStatus.SUBMITTED)) for nobody in NOBODY)


def test_the_eoi_exchange_is_between_its_municipality_and_the_screeners():
    assert who(access.can_message_eoi, eoi(EoiStatus.SUBMITTED)) == {A, R, M}
    assert who(access.can_message_eoi, eoi(EoiStatus.DRAFT)) == {M}
    assert who(access.can_message_eoi, eoi(EoiStatus.SUBMITTED, OTHER_MUNICIPALITY)) == {A, R}


# Applications and review -------------------------------------------------------------------------------------

def application(status: ApplicationStatus, owner: int = PROVIDER, municipality: int = MUNICIPALITY, **extra):
    return SimpleNamespace(status=status, organisation_id=owner, municipality_org_id=municipality, **extra)


def test_an_application_is_edited_by_its_provider_and_endorsed_by_its_municipality():
    assert who(access.can_edit_application, application(ApplicationStatus.DRAFT)) == {P}
    assert who(access.can_edit_application, application(ApplicationStatus.DRAFT, owner=OTHER_PROVIDER)) == set()
    assert who(access.can_endorse, application(ApplicationStatus.SUBMITTED)) == {M}
    assert who(access.can_endorse, application(ApplicationStatus.SUBMITTED, municipality=OTHER_MUNICIPALITY)) == set()


def test_an_application_is_seen_by_its_provider_and_once_submitted_by_its_municipality_and_the_ministry():
    assert who(access.can_view_application, application(ApplicationStatus.DRAFT)) == {P}
    assert who(access.can_view_application, application(ApplicationStatus.SUBMITTED)) == {A, R, F, M, P}
    assert who(access.can_view_application, application(ApplicationStatus.SUBMITTED, owner=OTHER_PROVIDER,
                                                        municipality=OTHER_MUNICIPALITY)) == {A, R, F}
    assert not any(access.can_view_application(nobody, application(ApplicationStatus.SUBMITTED)) for nobody in NOBODY)


def test_the_chair_of_a_call_assigns_reviewers_beside_administrators():
    chaired = SimpleNamespace(chair_id=USER_ID[R])
    unchaired = SimpleNamespace(chair_id=None)
    assert who(access.is_chair, chaired) == {R}
    assert who(access.is_chair, unchaired) == set()
    assert access.is_chair(SimpleNamespace(id=None, role=R, is_authenticated=True), unchaired) is False
    assert who(access.can_assign_reviewers, chaired) == {A, R}
    assert who(access.can_assign_reviewers, unchaired) == {A}
    assert not any(access.is_chair(nobody, chaired) for nobody in NOBODY)


def test_only_the_assigned_ministry_reviewer_scores():
    assert who(access.can_score, SimpleNamespace(reviewer_id=USER_ID[R])) == {R}
    assert who(access.can_score, SimpleNamespace(reviewer_id=USER_ID[P])) == set()
    assert not any(access.can_score(nobody, SimpleNamespace(reviewer_id=USER_ID[R])) for nobody in NOBODY)


def test_scores_are_blind_until_a_reviewer_submits_their_own():
    other = person(R, user_id=99)

    def scored(assignments, chair_id=None):
        return SimpleNamespace(call=SimpleNamespace(chair_id=chair_id), assignments=assignments)

    before = scored([SimpleNamespace(reviewer_id=USER_ID[R], reviews=[]),
                     SimpleNamespace(reviewer_id=99, reviews=["score"])])
    after = scored([SimpleNamespace(reviewer_id=USER_ID[R], reviews=["score"])])
    assert who(access.can_see_scores, before) == {A}
    assert access.can_see_scores(other, before) is True
    assert who(access.can_see_scores, after) == {A, R}
    assert who(access.can_see_scores, scored([], chair_id=USER_ID[R])) == {A, R}
    # Finance is ministry staff but neither chair nor assigned: blind.
    assert who(access.can_see_scores, scored([], chair_id=USER_ID[F])) == {A, F}
    assert not any(access.can_see_scores(nobody, after) for nobody in NOBODY)
    # Outside the ministry nobody sees scores, even named as reviewer or chair.
    provider_as_reviewer = scored([SimpleNamespace(reviewer_id=USER_ID[P], reviews=["score"])], chair_id=USER_ID[P])
    assert access.can_see_scores(person(P), provider_as_reviewer) is False


# Agreements and reports ------------------------------------------------------------------------------------------

def agreement(owner: int = PROVIDER, municipality: int = MUNICIPALITY):
    return SimpleNamespace(organisation_id=owner, municipality_org_id=municipality)


def test_an_agreement_is_seen_by_the_ministry_its_provider_and_its_municipality():
    assert who(access.can_view_agreement, agreement()) == {A, R, F, M, P}
    assert who(access.can_view_agreement, agreement(OTHER_PROVIDER, MUNICIPALITY)) == {A, R, F, M}
    assert who(access.can_view_agreement, agreement(PROVIDER, OTHER_MUNICIPALITY)) == {A, R, F, P}
    assert who(access.can_view_agreement, agreement(OTHER_PROVIDER, OTHER_MUNICIPALITY)) == {A, R, F}
    assert not any(access.can_view_agreement(nobody, agreement()) for nobody in NOBODY)


def test_reports_are_prepared_by_the_grants_provider_only():
    assert who(access.can_edit_reports_of, agreement()) == {P}
    assert who(access.can_edit_reports_of, agreement(OTHER_PROVIDER)) == set()


def report(submitted: bool, owner: int = PROVIDER, municipality: int = MUNICIPALITY):
    return SimpleNamespace(agreement=agreement(owner, municipality),
                           first_submitted_at=datetime(2026, 1, 5, tzinfo=UTC) if submitted else None)


def test_a_report_is_seen_by_its_provider_and_once_submitted_by_the_ministry_and_its_municipality():
    assert who(access.can_view_report, report(False)) == {P}
    assert who(access.can_view_report, report(True)) == {A, R, F, M, P}
    assert who(access.can_view_report, report(True, OTHER_PROVIDER, OTHER_MUNICIPALITY)) == {A, R, F}
    # A municipality user whose organisation is named as the grant's provider is still not its municipality.
    assert access.can_view_report(person(M), report(True, owner=MUNICIPALITY, municipality=OTHER_MUNICIPALITY)) is False
    assert not any(access.can_view_report(nobody, report(True)) for nobody in NOBODY)


def test_a_financial_report_is_its_providers_and_once_submitted_the_ministrys_never_a_municipalitys():
    assert who(access.can_edit_financial_reports_of, agreement()) == {P}
    assert who(access.can_edit_financial_reports_of, agreement(OTHER_PROVIDER)) == set()
    assert who(access.can_view_financial_report, report(False)) == {P}
    assert who(access.can_view_financial_report, report(True)) == {A, R, F, P}
    assert who(access.can_view_financial_report, report(True, OTHER_PROVIDER, OTHER_MUNICIPALITY)) == {A, R, F}
    assert not any(access.can_view_financial_report(nobody, report(True)) for nobody in NOBODY)


def test_a_grants_finance_summary_is_seen_by_its_provider_its_municipality_the_ministry_and_the_monitors():
    assert who(access.can_view_grant_finance, agreement()) == {A, R, F, M, P, MON}
    assert who(access.can_view_grant_finance, agreement(OTHER_PROVIDER, OTHER_MUNICIPALITY)) == {A, R, F, MON}
    assert not any(access.can_view_grant_finance(nobody, agreement()) for nobody in NOBODY)


def test_budget_amendments_are_asked_by_the_grants_provider_decided_by_finance_and_seen_by_the_ministry():
    assert who(access.can_request_budget_amendment, agreement()) == {P}
    assert who(access.can_request_budget_amendment, agreement(OTHER_PROVIDER)) == set()
    assert who(access.can_view_budget_amendments, agreement()) == {A, R, F, P}
    assert who(access.can_view_budget_amendments, agreement(OTHER_PROVIDER, OTHER_MUNICIPALITY)) == {A, R, F}
    for check in (access.can_request_budget_amendment, access.can_view_budget_amendments):
        assert not any(check(nobody, agreement()) for nobody in NOBODY)


def test_the_spending_views_show_every_grant_to_the_ministry_and_monitors_and_their_own_to_the_others():
    assert {role: access.finance_overview_scope(person(role)) for role in ROLES} == {
        A: None, R: None, F: None, MON: None, M: ("municipality", MUNICIPALITY), P: ("provider", PROVIDER)}
    assert access.finance_overview_scope(person(P, OTHER_PROVIDER)) == ("provider", OTHER_PROVIDER)


# Route decorators ----------------------------------------------------------------------------------------------

def view(*args, **kwargs):
    return ("shown", args, kwargs)


@pytest.fixture
def request_as(app, monkeypatch):
    def _as(user):
        monkeypatch.setattr(access, "current_user", user)
        return app.test_request_context("/somewhere")

    return _as


def test_role_required_sends_strangers_to_sign_in_refuses_other_roles_and_passes_arguments(request_as):
    guarded = access.role_required(Role.FINANCE, Role.ADMIN)(view)
    assert guarded.__name__ == "view"
    with request_as(person(F)):
        assert guarded(1, 2, key="k") == ("shown", (1, 2), {"key": "k"})
    with request_as(person(A)):
        assert guarded(3) == ("shown", (3,), {})
    with request_as(person(P)), pytest.raises(Forbidden):
        guarded()
    with request_as(AnonymousUserMixin()):
        answer = guarded()
        assert answer.status_code == 302 and "/login" in answer.location
    anyone = access.role_required()(view)
    with request_as(person(M)):
        assert anyone(key=1) == ("shown", (), {"key": 1})
    with request_as(AnonymousUserMixin()):
        assert anyone().status_code == 302


def test_permission_required_asks_the_check_of_the_signed_in_person(request_as):
    asked = []

    def check(user):
        asked.append(user)
        return user.role == Role.MONITOR

    guarded = access.permission_required(check)(view)
    assert guarded.__name__ == "view"
    monitor = person(MON)
    with request_as(monitor):
        assert guarded(7, key="k") == ("shown", (7,), {"key": "k"})
    assert asked == [monitor]
    with request_as(person(A)), pytest.raises(Forbidden):
        guarded()
    with request_as(AnonymousUserMixin()):
        answer = guarded()
        assert answer.status_code == 302 and "/login" in answer.location
    assert len(asked) == 2


def test_grievance_evidence_asks_the_grievance_rules_about_the_person_downloading(monkeypatch):
    from portal.grievances import access as grievance_access

    asked = []
    monkeypatch.setattr(grievance_access, "can_download_evidence",
                        lambda user, doc: asked.append((user, doc)) or user.role == Role.REVIEWER)
    evidence = document("grievance", owner=MINISTRY, object_id="7")
    assert who(access.can_download_document, evidence) == {R}
    assert [user.role for user, _doc in asked] == [A, R, F, M, P]  # monitors are refused before
    assert all(doc is evidence for _user, doc in asked)
