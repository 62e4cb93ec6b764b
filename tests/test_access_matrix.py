"""Every route × every role (and anonymous) × own / foreign object → the expected status.

A route that is not listed here fails `test_every_route_is_in_the_matrix`: adding a page means
adding its rows. Requests are sent with empty forms; CSRF is tested separately."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
import sqlalchemy as sa

from portal.models import Role, ServiceType
from tests import factories
from tests.conftest import login

ROLES = ["anonymous"] + [r.value for r in Role]
MINISTRY = {"admin", "reviewer", "finance"}
LOGGED_IN = set(ROLES) - {"anonymous"}


def expect(default: int, **by_role: int) -> dict[str, int]:
    """Expected status per role: `default`, with anonymous redirected to sign in unless given."""
    table = {role: default for role in ROLES}
    table["anonymous"] = 302
    table.update(by_role)
    return table


def only(roles: set[str], ok: int, other: int = 403, anonymous: int = 302) -> dict[str, int]:
    table = {role: (ok if role in roles else other) for role in ROLES}
    table["anonymous"] = anonymous
    return table


@dataclass
class Row:
    method: str
    url: Callable[..., str]
    # scope -> role -> status; scope "any" for routes without an object.
    expected: dict[str, dict[str, int]] = field(default_factory=dict)


def _own_user(w, role):
    return w.users.get(role, w.users["provider"])


def _own_org(w, role):
    return w.users[role].organisation if role in w.users else w.orgs["provider"]


def _service_type_id(w, session):
    return session.scalar(sa.select(ServiceType.id).order_by(ServiceType.id))


MATRIX: dict[tuple[str, str], Row] = {
    # Public pages.
    ("main.home", "GET"): Row("GET", lambda w, r, s, sc: "/", {"any": expect(200, anonymous=200)}),
    ("main.healthz", "GET"): Row("GET", lambda w, r, s, sc: "/healthz", {"any": expect(200, anonymous=200)}),
    ("main.set_language", "POST"): Row("POST", lambda w, r, s, sc: "/language", {"any": expect(302)}),
    ("static", "GET"): Row("GET", lambda w, r, s, sc: "/static/css/portal.css", {"any": expect(200, anonymous=200)}),
    ("auth.login", "GET"): Row("GET", lambda w, r, s, sc: "/login", {"any": expect(302, anonymous=200)}),
    ("auth.login", "POST"): Row("POST", lambda w, r, s, sc: "/login", {"any": expect(200, anonymous=200)}),
    ("auth.register", "GET"): Row("GET", lambda w, r, s, sc: "/register", {"any": expect(302, anonymous=200)}),
    ("auth.register", "POST"): Row("POST", lambda w, r, s, sc: "/register", {"any": expect(302, anonymous=200)}),
    ("auth.forgot_password", "GET"): Row("GET", lambda w, r, s, sc: "/password/forgot",
                                         {"any": expect(200, anonymous=200)}),
    ("auth.forgot_password", "POST"): Row("POST", lambda w, r, s, sc: "/password/forgot",
                                          {"any": expect(200, anonymous=200)}),
    ("auth.activate", "GET"): Row("GET", lambda w, r, s, sc: "/activate/not-a-token",
                                  {"any": expect(400, anonymous=400)}),
    ("auth.activate", "POST"): Row("POST", lambda w, r, s, sc: "/activate/not-a-token",
                                   {"any": expect(400, anonymous=400)}),
    ("auth.reset_password", "GET"): Row("GET", lambda w, r, s, sc: "/password/reset/not-a-token",
                                        {"any": expect(400, anonymous=400)}),
    ("auth.reset_password", "POST"): Row("POST", lambda w, r, s, sc: "/password/reset/not-a-token",
                                         {"any": expect(400, anonymous=400)}),
    # Own account.
    ("auth.logout", "POST"): Row("POST", lambda w, r, s, sc: "/logout", {"any": expect(302)}),
    ("auth.account", "GET"): Row("GET", lambda w, r, s, sc: "/account", {"any": expect(200)}),
    ("auth.change_password", "GET"): Row("GET", lambda w, r, s, sc: "/account/password", {"any": expect(200)}),
    ("auth.change_password", "POST"): Row("POST", lambda w, r, s, sc: "/account/password", {"any": expect(200)}),
    # Multi-factor sign-in: the code page and "cancel" only serve a sign-in half-way through (none here:
    # everyone is sent on); enrolment and the account page for every signed-in user. New recovery codes
    # need a second factor first (409 for users without one).
    ("mfa.verify", "GET"): Row("GET", lambda w, r, s, sc: "/login/code", {"any": expect(302)}),
    ("mfa.verify", "POST"): Row("POST", lambda w, r, s, sc: "/login/code", {"any": expect(302)}),
    ("mfa.cancel", "POST"): Row("POST", lambda w, r, s, sc: "/login/code/cancel", {"any": expect(302)}),
    ("mfa.setup", "GET"): Row("GET", lambda w, r, s, sc: "/account/two-factor/setup", {"any": expect(200)}),
    ("mfa.setup", "POST"): Row("POST", lambda w, r, s, sc: "/account/two-factor/setup", {"any": expect(200)}),
    ("mfa.account", "GET"): Row("GET", lambda w, r, s, sc: "/account/two-factor", {"any": expect(200)}),
    ("mfa.recovery_codes", "POST"): Row("POST", lambda w, r, s, sc: "/account/two-factor/recovery-codes",
                                        {"any": expect(409)}),
    # Organisations: own organisation vs another provider.
    ("organisations.mine", "GET"): Row("GET", lambda w, r, s, sc: "/organisations/mine", {"any": expect(302)}),
    ("organisations.detail", "GET"): Row(
        "GET", lambda w, r, s, sc: f"/organisations/{(_own_org(w, r) if sc == 'own' else w.orgs['provider_b']).id}",
        {"own": expect(200), "foreign": only(MINISTRY, 200)}),
    ("organisations.edit", "GET"): Row(
        "GET", lambda w, r, s, sc: f"/organisations/{(_own_org(w, r) if sc == 'own' else w.orgs['provider_b']).id}/edit",
        {"own": only({"admin", "provider"}, 200), "foreign": only({"admin"}, 200)}),
    # An empty POST falls back to the stored values (WTForms `obj`): saved unchanged, then redirected.
    ("organisations.edit", "POST"): Row(
        "POST", lambda w, r, s, sc: f"/organisations/{(_own_org(w, r) if sc == 'own' else w.orgs['provider_b']).id}/edit",
        {"own": only({"admin", "provider"}, 302), "foreign": only({"admin"}, 302)}),
    ("organisations.verify", "GET"): Row(
        "GET", lambda w, r, s, sc: f"/organisations/{w.orgs['provider' if sc == 'own' else 'provider_b'].id}/verify",
        {"own": only({"admin", "reviewer"}, 200), "foreign": only({"admin", "reviewer"}, 200)}),
    ("organisations.verify", "POST"): Row(
        "POST", lambda w, r, s, sc: f"/organisations/{w.orgs['provider' if sc == 'own' else 'provider_b'].id}/verify",
        {"own": only({"admin", "reviewer"}, 200), "foreign": only({"admin", "reviewer"}, 200)}),
    # Documents: the role's own organisation's document vs another provider's.
    ("documents.download", "GET"): Row(
        "GET", lambda w, r, s, sc: f"/documents/{w.docs[_own_org(w, r).id if sc == 'own' else w.orgs['provider_b'].id]}",
        {"own": only(MINISTRY | {"municipality", "provider"}, 200),
         "foreign": only(MINISTRY, 200)}),
    # An empty upload form (no file) is refused with 422 once the permission check has passed.
    ("organisations.upload_document", "POST"): Row(
        "POST", lambda w, r, s, sc: f"/organisations/{(_own_org(w, r) if sc == 'own' else w.orgs['provider_b']).id}/documents",
        {"own": only({"admin", "municipality", "provider"}, 422), "foreign": only({"admin"}, 422)}),
    # Calls: public pages and their administration.
    ("calls.index", "GET"): Row("GET", lambda w, r, s, sc: "/calls/", {"any": expect(200, anonymous=200)}),
    ("calls.detail", "GET"): Row("GET", lambda w, r, s, sc: f"/calls/{w.call.id}", {"any": expect(200, anonymous=200)}),
    ("calls_admin.calls", "GET"): Row("GET", lambda w, r, s, sc: "/admin/calls", {"any": only({"admin"}, 200)}),
    ("calls_admin.new_call", "GET"): Row("GET", lambda w, r, s, sc: "/admin/calls/new", {"any": only({"admin"}, 200)}),
    ("calls_admin.new_call", "POST"): Row("POST", lambda w, r, s, sc: "/admin/calls/new", {"any": only({"admin"}, 200)}),
    ("calls_admin.edit_call", "GET"): Row("GET", lambda w, r, s, sc: f"/admin/calls/{w.call.id}/edit",
                                          {"any": only({"admin"}, 200)}),
    ("calls_admin.edit_call", "POST"): Row("POST", lambda w, r, s, sc: f"/admin/calls/{w.call.id}/edit",
                                           {"any": only({"admin"}, 200)}),
    ("calls_admin.edit_rubric", "GET"): Row("GET", lambda w, r, s, sc: f"/admin/calls/{w.call.id}/rubric",
                                            {"any": only({"admin"}, 200)}),
    # An empty form carries no version: refused as a stale save (409), nothing written.
    ("calls_admin.edit_rubric", "POST"): Row("POST", lambda w, r, s, sc: f"/admin/calls/{w.call.id}/rubric",
                                             {"any": only({"admin"}, 409)}),
    ("calls_admin.change_status", "GET"): Row("GET", lambda w, r, s, sc: f"/admin/calls/{w.call.id}/status/closed",
                                              {"any": only({"admin"}, 200)}),
    # Closing a call before its deadline is refused (409).
    ("calls_admin.change_status", "POST"): Row("POST", lambda w, r, s, sc: f"/admin/calls/{w.call.id}/status/closed",
                                               {"any": only({"admin"}, 409)}),
    ("calls_admin.upload_document", "POST"): Row("POST", lambda w, r, s, sc: f"/admin/calls/{w.call.id}/documents",
                                                 {"any": only({"admin"}, 302)}),
    ("calls_admin.programme", "GET"): Row("GET", lambda w, r, s, sc: "/admin/programme", {"any": only({"admin"}, 200)}),
    ("calls_admin.programme", "POST"): Row("POST", lambda w, r, s, sc: "/admin/programme", {"any": only({"admin"}, 200)}),
    # Expressions of interest: own = the municipality's submitted EOI; foreign = another municipality's draft,
    # which nobody else sees (not even the ministry).
    ("eois.start", "POST"): Row("POST", lambda w, r, s, sc: f"/calls/{w.call.id}/eoi", {"any": only({"municipality"}, 302)}),
    ("eois.mine", "GET"): Row("GET", lambda w, r, s, sc: "/eois", {"any": only({"municipality"}, 200)}),
    ("eois.detail", "GET"): Row("GET", lambda w, r, s, sc: f"/eois/{w.eoi[sc].id}",
                                {"own": only(MINISTRY | {"municipality"}, 200), "foreign": only(set(), 200)}),
    # A submitted EOI no longer changes (409).
    ("eois.edit", "POST"): Row("POST", lambda w, r, s, sc: f"/eois/{w.eoi[sc].id}",
                               {"own": only({"municipality"}, 409), "foreign": only(set(), 200)}),
    ("eois.receipt", "GET"): Row("GET", lambda w, r, s, sc: f"/eois/{w.eoi[sc].id}/receipt/1",
                                 {"own": only(MINISTRY | {"municipality"}, 200), "foreign": only(set(), 200)}),
    ("eois.withdraw", "GET"): Row("GET", lambda w, r, s, sc: f"/eois/{w.eoi[sc].id}/withdraw",
                                  {"own": only({"municipality"}, 200), "foreign": only(set(), 200)}),
    ("eois.withdraw", "POST"): Row("POST", lambda w, r, s, sc: f"/eois/{w.eoi[sc].id}/withdraw",
                                   {"own": only({"municipality"}, 302), "foreign": only(set(), 200)}),
    ("eois.upload_document", "POST"): Row("POST", lambda w, r, s, sc: f"/eois/{w.eoi[sc].id}/documents",
                                          {"own": only({"municipality"}, 409), "foreign": only(set(), 200)}),
    ("eois.message", "POST"): Row("POST", lambda w, r, s, sc: f"/eois/{w.eoi[sc].id}/messages",
                                  {"own": only({"admin", "reviewer", "municipality"}, 302), "foreign": only(set(), 200)}),
    ("eois.screening", "GET"): Row("GET", lambda w, r, s, sc: f"/review/calls/{w.call.id}/eois",
                                   {"any": only({"admin", "reviewer"}, 200)}),
    ("eois.clarify", "GET"): Row("GET", lambda w, r, s, sc: f"/eois/{w.eoi[sc].id}/clarify",
                                 {"own": only({"admin", "reviewer"}, 200), "foreign": only(set(), 200)}),
    ("eois.clarify", "POST"): Row("POST", lambda w, r, s, sc: f"/eois/{w.eoi[sc].id}/clarify",
                                  {"own": only({"admin", "reviewer"}, 200), "foreign": only(set(), 200)}),
    ("eois.decide", "GET"): Row("GET", lambda w, r, s, sc: f"/eois/{w.eoi[sc].id}/decide",
                                {"own": only({"admin", "reviewer"}, 200), "foreign": only(set(), 200)}),
    ("eois.decide", "POST"): Row("POST", lambda w, r, s, sc: f"/eois/{w.eoi[sc].id}/decide",
                                 {"own": only({"admin", "reviewer"}, 200), "foreign": only(set(), 200)}),
    ("eois.summary", "GET"): Row("GET", lambda w, r, s, sc: f"/review/calls/{w.call.id}/summary.xlsx",
                                 {"any": only({"admin", "reviewer"}, 200)}),
    # Grant applications: own = provider A's submitted application naming municipality A (reviewer is the
    # committee chair and assigned to it); foreign = provider B's draft, which nobody else sees.
    ("applications.start", "GET"): Row("GET", lambda w, r, s, sc: f"/calls/{w.grant_call.id}/apply",
                                       {"any": only({"provider"}, 200)}),
    # No municipality chosen: the form comes back with the error.
    ("applications.start", "POST"): Row("POST", lambda w, r, s, sc: f"/calls/{w.grant_call.id}/apply",
                                        {"any": only({"provider"}, 200)}),
    ("applications.mine", "GET"): Row("GET", lambda w, r, s, sc: "/applications",
                                      {"any": only({"provider", "municipality"}, 200)}),
    ("applications.detail", "GET"): Row("GET", lambda w, r, s, sc: f"/applications/{w.app[sc].id}",
                                        {"own": only(MINISTRY | {"municipality", "provider"}, 200),
                                         "foreign": only(set(), 200)}),
    # An empty form carries no version: the stale-edit guard answers 409 before anything is saved.
    ("applications.edit", "POST"): Row("POST", lambda w, r, s, sc: f"/applications/{w.app[sc].id}",
                                       {"own": only({"provider"}, 409), "foreign": only(set(), 200)}),
    ("applications.receipt", "GET"): Row("GET", lambda w, r, s, sc: f"/applications/{w.app[sc].id}/receipt/1",
                                         {"own": only(MINISTRY | {"municipality", "provider"}, 200),
                                          "foreign": only(set(), 200)}),
    ("applications.withdraw", "GET"): Row("GET", lambda w, r, s, sc: f"/applications/{w.app[sc].id}/withdraw",
                                          {"own": only({"provider"}, 200), "foreign": only(set(), 200)}),
    ("applications.withdraw", "POST"): Row("POST", lambda w, r, s, sc: f"/applications/{w.app[sc].id}/withdraw",
                                           {"own": only({"provider"}, 302), "foreign": only(set(), 200)}),
    # A submitted application takes no more documents (409).
    ("applications.upload_document", "POST"): Row(
        "POST", lambda w, r, s, sc: f"/applications/{w.app[sc].id}/documents",
        {"own": only({"provider"}, 409), "foreign": only(set(), 200)}),
    ("applications.endorse", "GET"): Row("GET", lambda w, r, s, sc: f"/applications/{w.app[sc].id}/endorse",
                                         {"own": only({"municipality"}, 200), "foreign": only(set(), 200)}),
    ("applications.endorse", "POST"): Row("POST", lambda w, r, s, sc: f"/applications/{w.app[sc].id}/endorse",
                                          {"own": only({"municipality"}, 200), "foreign": only(set(), 200)}),
    ("applications.review_list", "GET"): Row("GET", lambda w, r, s, sc: f"/review/calls/{w.grant_call.id}/applications",
                                             {"any": only({"admin", "reviewer"}, 200)}),
    ("applications.eligibility", "GET"): Row("GET", lambda w, r, s, sc: f"/applications/{w.app[sc].id}/eligibility",
                                             {"own": only({"admin", "reviewer"}, 200), "foreign": only(set(), 200)}),
    ("applications.eligibility", "POST"): Row("POST", lambda w, r, s, sc: f"/applications/{w.app[sc].id}/eligibility",
                                              {"own": only({"admin", "reviewer"}, 200), "foreign": only(set(), 200)}),
    ("applications.reviewers", "GET"): Row("GET", lambda w, r, s, sc: f"/applications/{w.app[sc].id}/reviewers",
                                           {"own": only({"admin", "reviewer"}, 200), "foreign": only(set(), 200)}),
    ("applications.reviewers", "POST"): Row("POST", lambda w, r, s, sc: f"/applications/{w.app[sc].id}/reviewers",
                                            {"own": only({"admin", "reviewer"}, 200), "foreign": only(set(), 200)}),
    ("applications.my_reviews", "GET"): Row("GET", lambda w, r, s, sc: "/review/assignments",
                                            {"any": only({"admin", "reviewer"}, 200)}),
    # Only the assigned reviewer; an empty score sheet without the confirmation is refused (422).
    ("applications.score", "GET"): Row("GET", lambda w, r, s, sc: f"/applications/{w.app[sc].id}/review",
                                       {"own": only({"reviewer"}, 200), "foreign": only(set(), 200)}),
    ("applications.score", "POST"): Row("POST", lambda w, r, s, sc: f"/applications/{w.app[sc].id}/review",
                                        {"own": only({"reviewer"}, 422), "foreign": only(set(), 200)}),
    # Only the chair; nothing submitted yet, so a rescore is not possible (409).
    ("applications.rescore", "GET"): Row(
        "GET", lambda w, r, s, sc: f"/applications/{w.app[sc].id}/reviews/{w.assignment.id}/rescore",
        {"own": only({"reviewer"}, 200), "foreign": only(set(), 200)}),
    ("applications.rescore", "POST"): Row(
        "POST", lambda w, r, s, sc: f"/applications/{w.app[sc].id}/reviews/{w.assignment.id}/rescore",
        {"own": only({"reviewer"}, 409), "foreign": only(set(), 200)}),
    ("applications.moderate", "GET"): Row("GET", lambda w, r, s, sc: f"/applications/{w.app[sc].id}/moderate",
                                          {"own": only({"reviewer"}, 200), "foreign": only(set(), 200)}),
    # No discrepancy to moderate (409).
    ("applications.moderate", "POST"): Row("POST", lambda w, r, s, sc: f"/applications/{w.app[sc].id}/moderate",
                                           {"own": only({"reviewer"}, 409), "foreign": only(set(), 200)}),
    ("applications.ranking", "GET"): Row("GET", lambda w, r, s, sc: f"/review/calls/{w.grant_call.id}/ranking.xlsx",
                                         {"any": only(MINISTRY, 200)}),
    ("applications.decide", "GET"): Row("GET", lambda w, r, s, sc: f"/applications/{w.app[sc].id}/decide",
                                        {"own": only({"admin", "reviewer"}, 200), "foreign": only(set(), 200)}),
    # An empty decision (no outcome) is refused with the form (422).
    ("applications.decide", "POST"): Row("POST", lambda w, r, s, sc: f"/applications/{w.app[sc].id}/decide",
                                         {"own": only({"admin", "reviewer"}, 422), "foreign": only(set(), 200)}),
    ("applications.review_settings", "GET"): Row(
        "GET", lambda w, r, s, sc: f"/admin/calls/{w.grant_call.id}/review-settings", {"any": only({"admin"}, 200)}),
    ("applications.review_settings", "POST"): Row(
        "POST", lambda w, r, s, sc: f"/admin/calls/{w.grant_call.id}/review-settings", {"any": only({"admin"}, 422)}),
    # Grant agreements: own = provider A's agreement in municipality A; foreign = provider B's in municipality B.
    ("grants.create", "GET"): Row("GET", lambda w, r, s, sc: f"/applications/{w.agreement[sc].application_id}/agreement",
                                  {"own": only({"admin", "finance"}, 200), "foreign": only({"admin", "finance"}, 200)}),
    # An empty form is refused with its errors (422).
    ("grants.create", "POST"): Row("POST", lambda w, r, s, sc: f"/applications/{w.agreement[sc].application_id}/agreement",
                                   {"own": only({"admin", "finance"}, 422), "foreign": only({"admin", "finance"}, 422)}),
    ("grants.index", "GET"): Row("GET", lambda w, r, s, sc: "/grants", {"any": only(LOGGED_IN - {"monitor"}, 200)}),
    ("grants.detail", "GET"): Row("GET", lambda w, r, s, sc: f"/grants/{w.agreement[sc].id}",
                                  {"own": only(MINISTRY | {"provider", "municipality"}, 200), "foreign": only(MINISTRY, 200)}),
    ("grants.amend", "GET"): Row("GET", lambda w, r, s, sc: f"/grants/{w.agreement[sc].id}/amend",
                                 {"own": only({"admin", "finance"}, 200), "foreign": only({"admin", "finance"}, 200)}),
    ("grants.amend", "POST"): Row("POST", lambda w, r, s, sc: f"/grants/{w.agreement[sc].id}/amend",
                                  {"own": only({"admin", "finance"}, 422), "foreign": only({"admin", "finance"}, 422)}),
    # Without a file the upload is refused with a message on the agreement page (redirect).
    ("grants.upload_document", "POST"): Row("POST", lambda w, r, s, sc: f"/grants/{w.agreement[sc].id}/documents",
                                            {"own": only({"admin", "finance"}, 302), "foreign": only({"admin", "finance"}, 302)}),
    # The advance (no condition) can be requested by finance; approving or paying a planned tranche is refused (409).
    ("grants.request_release", "POST"): Row(
        "POST", lambda w, r, s, sc: f"/tranches/{w.agreement[sc].tranches[0].id}/request",
        {"own": only({"finance"}, 302), "foreign": only({"finance"}, 302)}),
    ("grants.approve_release", "POST"): Row(
        "POST", lambda w, r, s, sc: f"/tranches/{w.agreement[sc].tranches[1].id}/approve",
        {"own": only({"admin", "finance"}, 409), "foreign": only({"admin", "finance"}, 409)}),
    ("grants.mark_paid", "POST"): Row(
        "POST", lambda w, r, s, sc: f"/tranches/{w.agreement[sc].tranches[1].id}/pay",
        {"own": only({"finance"}, 409), "foreign": only({"finance"}, 409)}),
    # An empty correction (no reason) is refused (409).
    ("grants.reverse", "POST"): Row("POST", lambda w, r, s, sc: f"/ledger/{w.entry[sc]}/reverse",
                                    {"own": only({"finance"}, 409), "foreign": only({"finance"}, 409)}),
    ("grants.envelope", "GET"): Row("GET", lambda w, r, s, sc: "/envelope", {"any": only(MINISTRY | {"monitor"}, 200)}),
    ("grants.ledger_download", "GET"): Row("GET", lambda w, r, s, sc: "/envelope/ledger.xlsx", {"any": only(MINISTRY, 200)}),
    ("grants.ifr", "GET"): Row("GET", lambda w, r, s, sc: "/envelope/ifr.xlsx", {"any": only(MINISTRY | {"monitor"}, 200)}),
    # Monthly reports: own = provider A's grant in municipality A; foreign = provider B's in municipality B.
    ("reports.index", "GET"): Row("GET", lambda w, r, s, sc: "/reports", {"any": only(LOGGED_IN - {"monitor"}, 200)}),
    # Starting a month is idempotent (the existing report is returned): the provider of the grant is redirected to it.
    ("reports.start", "POST"): Row("POST", lambda w, r, s, sc: f"/grants/{w.agreement[sc].id}/reports/{w.next_month}/start",
                                   {"own": only({"provider"}, 302), "foreign": only(set(), 302)}),
    ("reports.edit", "GET"): Row("GET", lambda w, r, s, sc: f"/reports/{w.draft[sc].id}/edit",
                                 {"own": only({"provider"}, 200), "foreign": only(set(), 200)}),
    # An empty form carries no edit version: the save is refused as a conflict (409), nothing is written.
    ("reports.edit", "POST"): Row("POST", lambda w, r, s, sc: f"/reports/{w.draft[sc].id}/edit",
                                  {"own": only({"provider"}, 409), "foreign": only(set(), 409)}),
    ("reports.detail", "GET"): Row("GET", lambda w, r, s, sc: f"/reports/{w.report[sc].id}",
                                   {"own": only(MINISTRY | {"provider", "municipality"}, 200), "foreign": only(MINISTRY, 200)}),
    # An empty review (neither accept nor return) is refused with the form (422).
    ("reports.review", "POST"): Row("POST", lambda w, r, s, sc: f"/reports/{w.report[sc].id}/review",
                                    {"own": only({"admin", "reviewer"}, 422), "foreign": only({"admin", "reviewer"}, 422)}),
    # A submitted report is not returned: revising it is not possible now (409).
    ("reports.revise", "POST"): Row("POST", lambda w, r, s, sc: f"/reports/{w.report[sc].id}/revise",
                                    {"own": only({"provider"}, 409), "foreign": only(set(), 409)}),
    ("reports.correction", "POST"): Row("POST", lambda w, r, s, sc: f"/reports/{w.report[sc].id}/correction",
                                        {"own": only({"provider"}, 422), "foreign": only(set(), 422)}),
    ("reports.upload_document", "POST"): Row("POST", lambda w, r, s, sc: f"/reports/{w.report[sc].id}/documents",
                                             {"own": only({"provider"}, 302), "foreign": only(set(), 302)}),
    # Financial reports (issue 18): own = provider A's grant in municipality A; foreign = provider B's in municipality B.
    ("finance_reports.index", "GET"): Row("GET", lambda w, r, s, sc: "/financial-reports",
                                          {"any": only(MINISTRY | {"provider"}, 200)}),
    ("finance_reports.grant", "GET"): Row("GET", lambda w, r, s, sc: f"/grants/{w.agreement[sc].id}/finance",
                                          {"own": only(LOGGED_IN, 200),
                                           "foreign": only(MINISTRY | {"monitor"}, 200)}),
    ("finance_reports.grant_download", "GET"): Row("GET", lambda w, r, s, sc: f"/grants/{w.agreement[sc].id}/finance.xlsx",
                                                   {"own": only(LOGGED_IN, 200),
                                                    "foreign": only(MINISTRY | {"monitor"}, 200)}),
    # Starting a period is idempotent (the existing draft is returned): the provider of the grant is redirected to it.
    ("finance_reports.start", "POST"): Row("POST", lambda w, r, s, sc: f"/grants/{w.agreement[sc].id}/finance/2/start",
                                           {"own": only({"provider"}, 302), "foreign": only(set(), 302)}),
    ("finance_reports.edit", "GET"): Row("GET", lambda w, r, s, sc: f"/financial-reports/{w.fdraft[sc].id}/edit",
                                         {"own": only({"provider"}, 200), "foreign": only(set(), 200)}),
    # An empty form carries no edit version: refused as a conflict (409), nothing is written.
    ("finance_reports.edit", "POST"): Row("POST", lambda w, r, s, sc: f"/financial-reports/{w.fdraft[sc].id}/edit",
                                          {"own": only({"provider"}, 409), "foreign": only(set(), 409)}),
    ("finance_reports.detail", "GET"): Row("GET", lambda w, r, s, sc: f"/financial-reports/{w.freport[sc].id}",
                                           {"own": only(MINISTRY | {"provider"}, 200), "foreign": only(MINISTRY, 200)}),
    # An empty review (neither accept nor return) is refused with the form (422).
    ("finance_reports.review", "POST"): Row("POST", lambda w, r, s, sc: f"/financial-reports/{w.freport[sc].id}/review",
                                            {"own": only({"admin", "finance"}, 422),
                                             "foreign": only({"admin", "finance"}, 422)}),
    # A submitted report is not returned: revising it is not possible now (409).
    ("finance_reports.revise", "POST"): Row("POST", lambda w, r, s, sc: f"/financial-reports/{w.freport[sc].id}/revise",
                                            {"own": only({"provider"}, 409), "foreign": only(set(), 409)}),
    ("finance_reports.upload_document", "POST"): Row(
        "POST", lambda w, r, s, sc: f"/financial-reports/{w.fdraft[sc].id}/documents",
        {"own": only({"provider"}, 302), "foreign": only(set(), 302)}),
    # Entries in EUR and MKD (issue 18): whoever reads the report; bulk entry: the grant's provider only.
    ("finance_reports.report_download", "GET"): Row(
        "GET", lambda w, r, s, sc: f"/financial-reports/{w.freport[sc].id}/entries.xlsx",
        {"own": only(MINISTRY | {"provider"}, 200), "foreign": only(MINISTRY, 200)}),
    ("finance_reports.bulk_page", "GET"): Row("GET", lambda w, r, s, sc: f"/grants/{w.agreement[sc].id}/finance/2/bulk",
                                              {"own": only({"provider"}, 200), "foreign": only(set(), 200)}),
    ("finance_reports.bulk_template", "GET"): Row(
        "GET", lambda w, r, s, sc: f"/grants/{w.agreement[sc].id}/finance/2/template.xlsx",
        {"own": only({"provider"}, 200), "foreign": only(set(), 200)}),
    # An empty form (no file) is refused with the page (422).
    ("finance_reports.bulk_upload", "POST"): Row(
        "POST", lambda w, r, s, sc: f"/grants/{w.agreement[sc].id}/finance/2/bulk",
        {"own": only({"provider"}, 422), "foreign": only(set(), 422)}),
    # Budget amendments (issue 18): the ministry and the provider of the grant; each grant has one pending.
    ("finance_reports.amendments_index", "GET"): Row(
        "GET", lambda w, r, s, sc: f"/grants/{w.agreement[sc].id}/budget-amendments",
        {"own": only(MINISTRY | {"provider"}, 200), "foreign": only(MINISTRY, 200)}),
    ("finance_reports.request_amendment", "GET"): Row(
        "GET", lambda w, r, s, sc: f"/grants/{w.agreement[sc].id}/budget-amendments/new",
        {"own": only({"provider"}, 200), "foreign": only(set(), 200)}),
    # The grant's amendment is still pending: a second request is refused (409).
    ("finance_reports.request_amendment", "POST"): Row(
        "POST", lambda w, r, s, sc: f"/grants/{w.agreement[sc].id}/budget-amendments/new",
        {"own": only({"provider"}, 409), "foreign": only(set(), 409)}),
    ("finance_reports.amendment_detail", "GET"): Row(
        "GET", lambda w, r, s, sc: f"/budget-amendments/{w.amendment[sc].id}",
        {"own": only(MINISTRY | {"provider"}, 200), "foreign": only(MINISTRY, 200)}),
    # An empty decision (neither approve nor reject) is refused with the form (422).
    ("finance_reports.decide_amendment", "POST"): Row(
        "POST", lambda w, r, s, sc: f"/budget-amendments/{w.amendment[sc].id}/decide",
        {"own": only({"admin", "finance"}, 422), "foreign": only({"admin", "finance"}, 422)}),
    # Spending against plan: everyone signed in (each sees only their rows: tests/test_scoping.py).
    ("finance_reports.overview_page", "GET"): Row("GET", lambda w, r, s, sc: "/financial-reports/overview",
                                                  {"any": only(LOGGED_IN, 200)}),
    ("finance_reports.overview_download", "GET"): Row("GET", lambda w, r, s, sc: "/financial-reports/overview.xlsx",
                                                      {"any": only(LOGGED_IN, 200)}),
    ("reports.completeness_page", "GET"): Row("GET", lambda w, r, s, sc: "/reports/completeness",
                                              {"any": only(MINISTRY | {"monitor", "municipality"}, 200)}),
    ("reports.completeness_download", "GET"): Row("GET", lambda w, r, s, sc: "/reports/completeness.xlsx",
                                                  {"any": only(MINISTRY | {"monitor", "municipality"}, 200)}),
    ("reports.bulk_page", "GET"): Row("GET", lambda w, r, s, sc: "/reports/bulk", {"any": only({"provider"}, 200)}),
    ("reports.bulk_template", "GET"): Row("GET", lambda w, r, s, sc: "/reports/bulk/template.xlsx",
                                          {"any": only({"provider"}, 200)}),
    ("reports.bulk_upload", "POST"): Row("POST", lambda w, r, s, sc: "/reports/bulk", {"any": only({"provider"}, 422)}),
    ("reports.settings", "GET"): Row("GET", lambda w, r, s, sc: "/admin/reports/settings", {"any": only({"admin"}, 200)}),
    ("reports.settings", "POST"): Row("POST", lambda w, r, s, sc: "/admin/reports/settings", {"any": only({"admin"}, 422)}),
    # Results indicators, downloads and the API: the ministry and the monitors; the API answers 401 in JSON.
    ("indicators.index", "GET"): Row("GET", lambda w, r, s, sc: "/indicators", {"any": only(MINISTRY | {"monitor"}, 200)}),
    ("indicators.download", "GET"): Row("GET", lambda w, r, s, sc: "/indicators/observations.csv?period_type=year",
                                        {"any": only(MINISTRY | {"monitor"}, 200)}),
    ("indicators.catalogue", "GET"): Row("GET", lambda w, r, s, sc: "/admin/indicators", {"any": only({"admin"}, 200)}),
    ("indicators.edit", "GET"): Row("GET", lambda w, r, s, sc: f"/admin/indicators/{w.indicator}", {"any": only({"admin"}, 200)}),
    ("indicators.edit", "POST"): Row("POST", lambda w, r, s, sc: f"/admin/indicators/{w.indicator}",
                                     {"any": only({"admin"}, 422)}),
    # The ISR: read and downloaded by the ministry and the monitors; comments written by administrators and reviewers.
    ("indicators.isr_view", "GET"): Row("GET", lambda w, r, s, sc: "/indicators/isr?period=2025-H2",
                                        {"any": only(MINISTRY | {"monitor"}, 200)}),
    ("indicators.isr_download", "GET"): Row("GET", lambda w, r, s, sc: "/indicators/isr.csv?period=2025-H2",
                                            {"any": only(MINISTRY | {"monitor"}, 200)}),
    ("indicators.isr_comment", "GET"): Row("GET", lambda w, r, s, sc: f"/indicators/isr/2025-H2/{w.indicator}",
                                           {"any": only(MINISTRY | {"monitor"}, 200)}),
    ("indicators.isr_comment", "POST"): Row("POST", lambda w, r, s, sc: f"/indicators/isr/2025-H2/{w.indicator}",
                                            {"any": only({"admin", "reviewer"}, 422)}),
    ("indicators.api_tokens", "GET"): Row("GET", lambda w, r, s, sc: "/account/api-tokens",
                                          {"any": only(MINISTRY | {"monitor"}, 200)}),
    ("indicators.api_tokens", "POST"): Row("POST", lambda w, r, s, sc: "/account/api-tokens",
                                           {"any": only(MINISTRY | {"monitor"}, 422)}),
    # The monitor's own token: only its owner revokes it.
    ("indicators.revoke_token", "POST"): Row("POST", lambda w, r, s, sc: f"/account/api-tokens/{w.token}/revoke",
                                             {"any": only({"monitor"}, 302)}),
    ("api.index", "GET"): Row("GET", lambda w, r, s, sc: "/api/v1/", {"any": only(MINISTRY | {"monitor"}, 200, anonymous=401)}),
    ("api.indicators", "GET"): Row("GET", lambda w, r, s, sc: "/api/v1/indicators",
                                   {"any": only(MINISTRY | {"monitor"}, 200, anonymous=401)}),
    ("api.observations", "GET"): Row("GET", lambda w, r, s, sc: "/api/v1/observations?period_type=year",
                                     {"any": only(MINISTRY | {"monitor"}, 200, anonymous=401)}),
    ("api.grants", "GET"): Row("GET", lambda w, r, s, sc: "/api/v1/grants", {"any": only(MINISTRY | {"monitor"}, 200,
                                                                                          anonymous=401)}),
    ("api.finance", "GET"): Row("GET", lambda w, r, s, sc: "/api/v1/finance", {"any": only(MINISTRY | {"monitor"}, 200,
                                                                                            anonymous=401)}),
    ("api.openapi", "GET"): Row("GET", lambda w, r, s, sc: "/api/v1/openapi.json", {"any": expect(200, anonymous=200)}),
    ("api.iati", "GET"): Row("GET", lambda w, r, s, sc: "/api/v1/iati-activity.xml", {"any": expect(200, anonymous=200)}),
    # Grievance redress (issue 17). Public: the form and the complainant's secret link (own = the right secret,
    # foreign = a wrong one). Cases: own = an acknowledged concern about provider A's grant in municipality A that
    # the ministry has put to them; foreign = a sensitive concern nobody is named on yet (administrators only).
    ("grievances.public_new", "GET"): Row("GET", lambda w, r, s, sc: "/concerns/new", {"any": expect(200, anonymous=200)}),
    # An empty concern is refused with its errors (422), signed in or not.
    ("grievances.public_new", "POST"): Row("POST", lambda w, r, s, sc: "/concerns/new", {"any": expect(422, anonymous=422)}),
    ("grievances.follow", "GET"): Row(
        "GET", lambda w, r, s, sc: f"/concerns/follow/{w.grievance_secret if sc == 'own' else 'not-the-secret'}",
        {"own": expect(200, anonymous=200), "foreign": expect(404, anonymous=404)}),
    ("grievances.follow", "POST"): Row(
        "POST", lambda w, r, s, sc: f"/concerns/follow/{w.grievance_secret if sc == 'own' else 'not-the-secret'}",
        {"own": expect(422, anonymous=422), "foreign": expect(404, anonymous=404)}),
    ("grievances.index", "GET"): Row("GET", lambda w, r, s, sc: "/grievances",
                                     {"any": only({"admin", "reviewer", "municipality", "provider"}, 200)}),
    ("grievances.detail", "GET"): Row("GET", lambda w, r, s, sc: f"/grievances/{w.grievance[sc].id}",
                                      {"own": only({"admin", "reviewer", "municipality", "provider"}, 200),
                                       "foreign": only({"admin"}, 200)}),
    # Already acknowledged (409).
    ("grievances.acknowledge", "POST"): Row("POST", lambda w, r, s, sc: f"/grievances/{w.grievance[sc].id}/acknowledge",
                                            {"own": only({"admin", "reviewer"}, 409), "foreign": only({"admin"}, 409)}),
    # No handler chosen (422).
    ("grievances.assign", "POST"): Row("POST", lambda w, r, s, sc: f"/grievances/{w.grievance[sc].id}/assign",
                                       {"own": only({"admin"}, 422), "foreign": only({"admin"}, 422)}),
    # Empty messages are refused (422).
    ("grievances.note", "POST"): Row("POST", lambda w, r, s, sc: f"/grievances/{w.grievance[sc].id}/note",
                                     {"own": only({"admin", "reviewer"}, 422), "foreign": only({"admin"}, 422)}),
    ("grievances.reply", "POST"): Row("POST", lambda w, r, s, sc: f"/grievances/{w.grievance[sc].id}/reply",
                                      {"own": only({"admin", "reviewer"}, 422), "foreign": only({"admin"}, 422)}),
    # A sensitive case is never put to the provider and municipality (409).
    ("grievances.ask", "POST"): Row("POST", lambda w, r, s, sc: f"/grievances/{w.grievance[sc].id}/ask",
                                    {"own": only({"admin", "reviewer"}, 422), "foreign": only({"admin"}, 409)}),
    ("grievances.answer", "POST"): Row("POST", lambda w, r, s, sc: f"/grievances/{w.grievance[sc].id}/answer",
                                       {"own": only({"municipality", "provider"}, 422), "foreign": only(set(), 422)}),
    ("grievances.escalate", "POST"): Row("POST", lambda w, r, s, sc: f"/grievances/{w.grievance[sc].id}/escalate",
                                         {"own": only({"admin", "reviewer"}, 422), "foreign": only({"admin"}, 422)}),
    # A reason is required (422); the foreign case is sensitive already (409).
    ("grievances.sensitive", "POST"): Row("POST", lambda w, r, s, sc: f"/grievances/{w.grievance[sc].id}/sensitive",
                                          {"own": only({"admin", "reviewer"}, 422), "foreign": only({"admin"}, 409)}),
    ("grievances.close", "POST"): Row("POST", lambda w, r, s, sc: f"/grievances/{w.grievance[sc].id}/close",
                                      {"own": only({"admin", "reviewer"}, 422), "foreign": only({"admin"}, 422)}),
    # Neither case is closed (409).
    ("grievances.reopen", "POST"): Row("POST", lambda w, r, s, sc: f"/grievances/{w.grievance[sc].id}/reopen",
                                       {"own": only({"admin", "reviewer"}, 409), "foreign": only({"admin"}, 409)}),
    ("grievances.figures_page", "GET"): Row("GET", lambda w, r, s, sc: "/grievances/figures", {"any": only(MINISTRY, 200)}),
    ("grievances.figures_download", "GET"): Row("GET", lambda w, r, s, sc: "/grievances/figures.csv",
                                                {"any": only(MINISTRY, 200)}),
    ("grievances.settings", "GET"): Row("GET", lambda w, r, s, sc: "/admin/grievances/settings", {"any": only({"admin"}, 200)}),
    ("grievances.settings", "POST"): Row("POST", lambda w, r, s, sc: "/admin/grievances/settings",
                                         {"any": only({"admin"}, 422)}),
    # The service-user register (issue 16): own = provider A's grant and its episode; foreign = provider B's. Empty
    # forms pass the permission check and are refused by the service (422); nobody but the provider changes entries.
    ("register.index", "GET"): Row("GET", lambda w, r, s, sc: "/registers",
                                   {"any": only({"admin", "reviewer", "provider", "municipality"}, 200)}),
    ("register.grant", "GET"): Row("GET", lambda w, r, s, sc: f"/grants/{w.agreement[sc].id}/register",
                                   {"own": only({"admin", "reviewer", "provider"}, 200),
                                    "foreign": only({"admin", "reviewer"}, 200)}),
    ("register.export", "GET"): Row("GET", lambda w, r, s, sc: f"/grants/{w.agreement[sc].id}/register.csv",
                                    {"own": only({"provider"}, 200), "foreign": only(set(), 200)}),
    ("register.new", "GET"): Row("GET", lambda w, r, s, sc: f"/grants/{w.agreement[sc].id}/register/new",
                                 {"own": only({"provider"}, 200), "foreign": only(set(), 200)}),
    ("register.new", "POST"): Row("POST", lambda w, r, s, sc: f"/grants/{w.agreement[sc].id}/register/new",
                                  {"own": only({"provider"}, 422), "foreign": only(set(), 422)}),
    ("register.episode", "GET"): Row("GET", lambda w, r, s, sc: f"/registers/episodes/{w.episode[sc].id}",
                                     {"own": only({"admin", "reviewer", "provider"}, 200),
                                      "foreign": only({"admin", "reviewer"}, 200)}),
    ("register.end", "POST"): Row("POST", lambda w, r, s, sc: f"/registers/episodes/{w.episode[sc].id}/end",
                                  {"own": only({"provider"}, 422), "foreign": only(set(), 422)}),
    ("register.correct", "GET"): Row("GET", lambda w, r, s, sc: f"/registers/episodes/{w.episode[sc].id}/correct",
                                     {"own": only({"provider"}, 200), "foreign": only(set(), 200)}),
    ("register.correct", "POST"): Row("POST", lambda w, r, s, sc: f"/registers/episodes/{w.episode[sc].id}/correct",
                                      {"own": only({"provider"}, 422), "foreign": only(set(), 422)}),
    ("register.duplicates_page", "GET"): Row("GET", lambda w, r, s, sc: "/registers/duplicates",
                                             {"any": only({"admin", "reviewer"}, 200)}),
    ("register.resolve", "POST"): Row(
        "POST", lambda w, r, s, sc: f"/registers/duplicates/{w.episode['own'].id}/{w.episode['foreign'].id}/resolve",
        {"any": only({"admin", "reviewer"}, 422)}),
    # Bulk import and the XLSX download: the provider of the grant only (an empty upload is refused: 422).
    ("register.export_xlsx", "GET"): Row("GET", lambda w, r, s, sc: f"/grants/{w.agreement[sc].id}/register.xlsx",
                                         {"own": only({"provider"}, 200), "foreign": only(set(), 200)}),
    ("register.import_template", "GET"): Row(
        "GET", lambda w, r, s, sc: f"/grants/{w.agreement[sc].id}/register/template.xlsx",
        {"own": only({"provider"}, 200), "foreign": only(set(), 200)}),
    ("register.import_file", "GET"): Row("GET", lambda w, r, s, sc: f"/grants/{w.agreement[sc].id}/register/import",
                                         {"own": only({"provider"}, 200), "foreign": only(set(), 200)}),
    ("register.import_file", "POST"): Row("POST", lambda w, r, s, sc: f"/grants/{w.agreement[sc].id}/register/import",
                                          {"own": only({"provider"}, 422), "foreign": only(set(), 422)}),
    # Administration.
    ("admin.users", "GET"): Row("GET", lambda w, r, s, sc: "/admin/users", {"any": only({"admin"}, 200)}),
    ("admin.invite_user", "GET"): Row("GET", lambda w, r, s, sc: "/admin/users/invite", {"any": only({"admin"}, 200)}),
    ("admin.invite_user", "POST"): Row("POST", lambda w, r, s, sc: "/admin/users/invite",
                                       {"any": only({"admin"}, 200)}),
    ("admin.user_detail", "GET"): Row(
        "GET", lambda w, r, s, sc: f"/admin/users/{(_own_user(w, r) if sc == 'own' else w.users['provider_b']).id}",
        {"own": only({"admin"}, 200), "foreign": only({"admin"}, 200)}),
    ("admin.user_detail", "POST"): Row(
        "POST", lambda w, r, s, sc: f"/admin/users/{(_own_user(w, r) if sc == 'own' else w.users['provider_b']).id}",
        {"own": only({"admin"}, 302), "foreign": only({"admin"}, 302)}),
    ("admin.deactivate_user", "GET"): Row(
        "GET", lambda w, r, s, sc: f"/admin/users/{(_own_user(w, r) if sc == 'own' else w.users['provider_b']).id}/deactivate",
        {"own": only({"admin"}, 200), "foreign": only({"admin"}, 200)}),
    ("admin.deactivate_user", "POST"): Row(
        "POST", lambda w, r, s, sc: f"/admin/users/{(_own_user(w, r) if sc == 'own' else w.users['provider_b']).id}/deactivate",
        {"own": only({"admin"}, 200), "foreign": only({"admin"}, 200)}),
    # Resetting a second factor: a confirmation page; an empty form is shown again (the reason is required).
    ("admin.reset_mfa", "GET"): Row(
        "GET", lambda w, r, s, sc: f"/admin/users/{(_own_user(w, r) if sc == 'own' else w.users['provider_b']).id}/two-factor-reset",
        {"own": only({"admin"}, 200), "foreign": only({"admin"}, 200)}),
    ("admin.reset_mfa", "POST"): Row(
        "POST", lambda w, r, s, sc: f"/admin/users/{(_own_user(w, r) if sc == 'own' else w.users['provider_b']).id}/two-factor-reset",
        {"own": only({"admin"}, 200), "foreign": only({"admin"}, 200)}),
    ("admin.reactivate_user", "POST"): Row(
        "POST", lambda w, r, s, sc: f"/admin/users/{(_own_user(w, r) if sc == 'own' else w.users['provider_b']).id}/reactivate",
        # Both users are active: the administrator is told the step is not possible (409).
        {"own": only({"admin"}, 409), "foreign": only({"admin"}, 409)}),
    ("admin.resend_invitation", "POST"): Row(
        "POST", lambda w, r, s, sc: f"/admin/users/{(_own_user(w, r) if sc == 'own' else w.users['provider_b']).id}/resend-invitation",
        {"own": only({"admin"}, 409), "foreign": only({"admin"}, 409)}),
    ("admin.organisations", "GET"): Row("GET", lambda w, r, s, sc: "/admin/organisations",
                                        {"any": only({"admin", "reviewer"}, 200)}),
    ("admin.new_organisation", "GET"): Row("GET", lambda w, r, s, sc: "/admin/organisations/new",
                                           {"any": only({"admin"}, 200)}),
    ("admin.new_organisation", "POST"): Row("POST", lambda w, r, s, sc: "/admin/organisations/new",
                                            {"any": only({"admin"}, 200)}),
    ("admin.audit_log", "GET"): Row("GET", lambda w, r, s, sc: "/admin/audit", {"any": only({"admin"}, 200)}),
    # Reference data.
    ("reference.index", "GET"): Row("GET", lambda w, r, s, sc: "/admin/reference/", {"any": only({"admin"}, 200)}),
    ("reference.entries", "GET"): Row("GET", lambda w, r, s, sc: "/admin/reference/municipalities",
                                      {"any": only({"admin"}, 200)}),
    ("reference.new", "GET"): Row("GET", lambda w, r, s, sc: "/admin/reference/hard-to-employ/new",
                                  {"any": only({"admin"}, 200)}),
    ("reference.new", "POST"): Row("POST", lambda w, r, s, sc: "/admin/reference/hard-to-employ/new",
                                   {"any": only({"admin"}, 200)}),
    ("reference.edit", "GET"): Row(
        "GET", lambda w, r, s, sc: f"/admin/reference/service-types/{_service_type_id(w, s)}/edit",
        {"any": only({"admin"}, 200)}),
    ("reference.edit", "POST"): Row(
        "POST", lambda w, r, s, sc: f"/admin/reference/service-types/{_service_type_id(w, s)}/edit",
        {"any": only({"admin"}, 302)}),
}


def test_every_route_is_in_the_matrix(app):
    missing = []
    for rule in app.url_map.iter_rules():
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            if (rule.endpoint, method) not in MATRIX:
                missing.append(f"{method} {rule.rule} ({rule.endpoint})")
    assert not missing, "routes without rows in the access matrix:\n" + "\n".join(missing)


def test_matrix_has_no_stale_rows(app):
    known = {(rule.endpoint, m) for rule in app.url_map.iter_rules() for m in (rule.methods or ())}
    assert not [key for key in MATRIX if key not in known]


@pytest.fixture
def world_docs(app, world, session, tmp_path):
    """One document per organisation, stored on a local disk folder of this test."""
    import io

    from portal.documents import services as documents
    from tests import files

    app.extensions["storage"] = None
    app.config.update(STORAGE_BACKEND="local", UPLOAD_DIR=tmp_path / "uploads")
    world.docs = {}
    with app.test_request_context():
        for org in world.orgs.values():
            doc = documents.upload(session, world.users["admin"], owner=org, object_type="organisation",
                                   object_id=org.id, purpose="other", stream=io.BytesIO(files.PDF), filename="x.pdf")
            world.docs[org.id] = doc.id
        world.call = factories.eoi_call(session, world.users["admin"])
        world.eoi = {"own": factories.filled_eoi(session, world.users["municipality"], world.call),
                     "foreign": factories.filled_eoi(session, world.users["municipality_b"], world.call, submit=False)}
        _grant_world(world, session)
        _grievance_world(world, session)
        _register_world(world, session)
        _finance_world(world, session)
        session.commit()
    yield world
    app.extensions["storage"] = None


def _finance_world(world, session) -> None:
    """Financial reports (issue 18): each grant has two approved budget lines; each provider submitted the
    report of its first quarter and has a draft of its second."""
    from decimal import Decimal

    from portal.finance_reports import amendments
    from portal.finance_reports import services as finance
    from portal.models import BudgetLine

    world.freport, world.fdraft, world.amendment = {}, {}, {}
    for scope, provider in (("own", "provider"), ("foreign", "provider_b")):
        agreement = world.agreement[scope]
        for position, (category, amount) in enumerate((("staff", "9000.00"), ("operating", "3000.00"))):
            session.add(BudgetLine(application_id=agreement.application_id, position=position, category=category,
                                   description="", quantity=Decimal("1"), unit_cost_eur=Decimal(amount), months=1,
                                   amount_eur=Decimal(amount)))
        session.flush()
        session.expire(agreement.application, ["budget_lines"])
        user = world.users[provider]
        report = finance.start(session, user, agreement, 1)
        lines = finance.budget_lines(agreement)
        finance.save(session, user, report, finance.FigureData(spent={lines[0].id: "2000.00", lines[1].id: "450.50"},
                                                               cofinancing_municipality="500.00"), report.newest.edit_version)
        finance.submit(session, user, report)
        world.freport[scope] = report
        world.fdraft[scope] = finance.start(session, user, agreement, 2)
        world.amendment[scope] = amendments.request(session, user, agreement, {
            lines[0].id: "9500.00", lines[1].id: "2500.00"}, "Повеќе часови нега.")


def _register_world(world, session) -> None:
    """One episode in each grant's register, of the same person and service from the grants' start: a duplicate
    pair for the ministry."""
    from datetime import timedelta

    from portal.models import Municipality
    from portal.register import services as register
    from tests.test_register import make_number

    number = make_number(factories.months_ago(3).replace(year=1950), 123)
    world.episode = {}
    for scope, provider in (("own", "provider"), ("foreign", "provider_b")):
        agreement = world.agreement[scope]
        start = agreement.current.start_date
        world.episode[scope] = register.add_episode(session, world.users[provider], agreement, number, register.EpisodeData(
            decision_number="08-100/1", decision_date=start - timedelta(days=5), decision_centre="ЦСР Куманово",
            service_type_id=agreement.application.service_types[0].id, start_date=start, disability="no",
            municipality_id=session.scalar(sa.select(Municipality.id).order_by(Municipality.id))))


def _grievance_world(world, session) -> None:
    """Own: a concern about provider A's grant, acknowledged and put to the provider and municipality; foreign: a
    sensitive one nobody is named on yet."""
    from portal.grievances import services as grievances

    municipality = world.orgs["municipality"].municipality_id
    world.grievance = {}
    for scope, category in (("own", "service_quality"), ("foreign", "safeguarding")):
        case, secret = grievances.submit(session, grievances.IntakeData(
            category=category, municipality_id=municipality, agreement_id=world.agreement["own"].id, about="",
            description="Услугата не се дава според договорот.", anonymous=True), f"192.0.2.{len(world.grievance) + 1}")
        grievances.acknowledge(session, world.users["admin"], case)
        world.grievance[scope] = case
        if scope == "own":
            world.grievance_secret = secret
            grievances.ask_party(session, world.users["admin"], case, "Објаснете што се случило.")


def _grant_world(world, session) -> None:
    """A grant call linked to a second call for EOIs where municipality A was accepted; provider A's
    submitted application there (the reviewer chairs the committee and is assigned to it), and
    provider B's draft."""
    import io
    from decimal import Decimal

    from portal.applications import review
    from portal.applications import services as applications
    from portal.calls import services as calls
    from portal.documents import services as documents
    from portal.eois import services as eois
    from portal.models import CallKind
    from tests import files

    admin, reviewer = world.users["admin"], world.users["reviewer"]
    second = factories.eoi_call(session, admin)
    eoi = factories.filled_eoi(session, world.users["municipality"], second)
    eois.decide(session, reviewer, eoi, True, "Прифатено.")
    grant = factories.eoi_call(session, admin, kind=CallKind.GRANT, linked_call_id=second.id,
                               grant_ceiling_eur=Decimal("200000.00"), required_documents=["work_plan"])
    calls.set_rubric(session, admin, grant, [calls.CriterionData("Потреба", "Nevoja", "Need", "", Decimal("50"), Decimal("1")),
                                             calls.CriterionData("Квалитет", "Cilësia", "Quality", "", Decimal("50"), Decimal("1"))])
    calls.set_review_settings(session, admin, grant, calls.ReviewSettings(None, False, [], 2, Decimal("20"), reviewer.id),
                              grant.version_id)
    municipality = world.orgs["municipality"].id
    own = applications.start(session, world.users["provider"], grant, municipality)
    applications.save(session, world.users["provider"], own, applications.ApplicationData(
        title="Помош во домот", summary="Услуга за 40 лица.", service_type_ids=[grant.service_types[0].id],
        beneficiaries_per_month=40, start_month=factories.a_date(60), duration_months=24, certified_caregivers=4,
        cofinancing_eur=Decimal("10000.00"), positions=[applications.PositionRow("Негувателка", 6)],
        lines=[applications.LineRow("staff", "Плати", Decimal("6"), Decimal("600.00"), 24)]), own.version_id)
    documents.upload(session, world.users["provider"], owner=own.organisation, object_type="application",
                     object_id=own.id, purpose="work_plan", stream=io.BytesIO(files.PDF), filename="plan.pdf")
    applications.submit(session, world.users["provider"], own)
    world.assignment = review.assign(session, admin, own, reviewer)
    world.grant_call = grant
    world.app = {"own": own, "foreign": applications.start(session, world.users["provider_b"], grant, municipality)}
    _agreement_world(world, session, second)


def _agreement_world(world, session, eoi_call) -> None:
    """Awarded applications in a second grant call (the award is written directly: the workflow that
    leads to it is tested elsewhere) and their signed agreements."""
    from datetime import timedelta
    from decimal import Decimal

    from portal.grants import services as grants
    from portal.models import Application, ApplicationStatus, AwardDecision, CallKind, Outcome

    admin = world.users["admin"]
    call = factories.eoi_call(session, admin, kind=CallKind.GRANT, linked_call_id=eoi_call.id,
                              allocation_eur=Decimal("100000.00"))
    start = factories.months_ago(3)
    world.agreement = {}
    for scope, provider, municipality in (("own", "provider", "municipality"), ("foreign", "provider_b", "municipality_b")):
        application = Application(call_id=call.id, organisation_id=world.orgs[provider].id,
                                  municipality_org_id=world.orgs[municipality].id, status=ApplicationStatus.AWARDED,
                                  reference=f"{call.reference}-{scope}")
        session.add(application)
        session.flush()
        session.add(AwardDecision(application_id=application.id, outcome=Outcome.AWARD, amount_eur=Decimal("40000.00"),
                                  reasons="Доделено.", decided_by_id=admin.id))
        session.flush()
        application.service_types = [call.service_types[0]]
        world.agreement[scope] = grants.create_agreement(session, admin, application, f"GA-{scope}", grants.Terms(
            signature_date=start - timedelta(days=20), start_date=start, end_date=grants.add_months(start, 24) - timedelta(days=1),
            committed_eur=Decimal("40000.00"), tranches=[grants.TrancheRow(start, Decimal("12000.00"), 0),
                                                         grants.TrancheRow(grants.add_months(start, 6), Decimal("28000.00"), 6)]))
    from portal.models import LedgerEntry

    world.entry = {scope: session.scalar(sa.select(LedgerEntry.id).where(LedgerEntry.agreement_id == agreement.id))
                   for scope, agreement in world.agreement.items()}
    # Monthly reports: each provider submitted its first month; provider A has a draft of its second.
    world.report = {"own": factories.report(session, world.users["provider"], world.agreement["own"], start),
                    "foreign": factories.report(session, world.users["provider_b"], world.agreement["foreign"], start)}
    world.draft = {"own": factories.report(session, world.users["provider"], world.agreement["own"],
                                           grants.add_months(start, 1), submit=False),
                   "foreign": factories.report(session, world.users["provider_b"], world.agreement["foreign"],
                                               grants.add_months(start, 1), submit=False)}
    world.next_month = grants.add_months(start, 2).strftime("%Y-%m")
    from portal.api import tokens
    from portal.models import Indicator

    world.token = tokens.create(session, world.users["monitor"], "matrix")[0].id
    world.indicator = session.scalar(sa.select(Indicator.id).where(Indicator.code == "BEN"))


@pytest.mark.parametrize("key", sorted(MATRIX), ids=lambda k: f"{k[1]} {k[0]}")
def test_access(key, app, world_docs, session):
    world = world_docs
    row = MATRIX[key]
    failures = []
    for scope, table in row.expected.items():
        for role in ROLES:
            client = app.test_client()
            if role != "anonymous":
                login(client, world.users[role])
            url = row.url(world, role, session, scope)
            response = client.open(url, method=row.method, data={})
            response.close()
            expected = table[role]
            if response.status_code != expected:
                failures.append(f"{role:>12} {scope:>7} {row.method} {url}: got {response.status_code}, "
                                f"expected {expected}")
            if role == "anonymous" and expected == 302 and key[0] not in {"main.set_language", "auth.logout"}:
                assert "/login" in response.headers.get("Location", "") or response.status_code != 302
    assert not failures, "\n".join(failures)
