"""One labelling function for every code a person may see: statuses, actions, roles and object types.

Templates write `{{ value|label("tranche_status") }}`; Python calls `label(value, "tranche_status")`.
The dictionaries hold lazy strings, so each label is translated in the language of the request (or of
`force_locale` when a mail is rendered). An unknown code is shown as it is rather than breaking a page.
"""

from __future__ import annotations

import enum
from typing import Any

from flask_babel import lazy_gettext as _l

ROLE = {
    "admin": _l("Ministry administrator"),
    "reviewer": _l("Ministry reviewer"),
    "finance": _l("Ministry finance officer"),
    "municipality": _l("Municipality officer"),
    "provider": _l("Service provider staff"),
    "monitor": _l("World Bank monitor"),
}

ORG_KIND = {"ministry": _l("Ministry"), "municipality": _l("Municipality"), "provider": _l("Service provider"),
            "monitor": _l("Monitor (World Bank)")}

ORG_STATUS = {"pending": _l("pending verification"), "verified": _l("verified"), "rejected": _l("not accepted")}

LEGAL_FORM = {"association": _l("Association / foundation"), "company": _l("Company"),
              "individual": _l("Individual (licensed professional)"), "public_institution": _l("Public institution")}

CALL_STATUS = {"draft": _l("draft"), "published": _l("published"), "closed": _l("closed"), "decided": _l("decided")}

CALL_KIND = {"eoi": _l("Call for expressions of interest (municipalities)"),
             "grant": _l("Call for grant applications (service providers)")}

APPLICATION_STATUS = {"draft": _l("draft"), "submitted": _l("submitted"), "withdrawn": _l("withdrawn"),
                      "ineligible": _l("ineligible"), "awarded": _l("awarded"), "reserve": _l("reserve list"),
                      "rejected": _l("rejected")}

ENDORSEMENT = {"pending": _l("awaiting endorsement"), "endorsed": _l("endorsed"),
               "declined": _l("endorsement declined")}

ELIGIBILITY = {"pending": _l("not screened yet"), "eligible": _l("eligible"), "ineligible": _l("ineligible")}

OUTCOME = {"award": _l("award"), "reserve": _l("reserve list"), "reject": _l("reject")}

EOI_STATUS = {"draft": _l("draft"), "submitted": _l("submitted"), "clarification": _l("clarification requested"),
              "withdrawn": _l("withdrawn"), "accepted": _l("accepted"), "rejected": _l("rejected")}

REPORT_STATUS = {"draft": _l("draft"), "submitted": _l("submitted, waiting for review"),
                 "returned": _l("returned with comments"), "accepted": _l("accepted"),
                 "superseded": _l("superseded by a correction")}

TIMELINESS = {"on_time": _l("on time"), "late": _l("late"), "returned": _l("returned"), "missing": _l("missing"),
              "open": _l("not due yet")}

TRANCHE_STATUS = {"planned": _l("planned"), "requested": _l("release requested"),
                  "approved": _l("release approved"), "paid": _l("paid")}

ENTRY_KIND = {"commitment": _l("commitment"), "disbursement": _l("disbursement")}

INDICATOR_UNIT = {"number": _l("number"), "percent": _l("percent"), "eur": _l("EUR")}

GRIEVANCE_CATEGORY = {"service_quality": _l("Quality of a service"), "access": _l("Access or eligibility"),
                      "staff_conduct": _l("Conduct of staff"), "safeguarding": _l("Safeguarding and abuse"),
                      "fraud": _l("Corruption or fraud"), "data_protection": _l("Personal data protection"),
                      "other": _l("Something else")}

GRIEVANCE_STATUS = {"received": _l("received, not acknowledged yet"), "acknowledged": _l("being handled"),
                    "escalated": _l("escalated"), "closed": _l("closed")}

GRIEVANCE_MESSAGE = {"note": _l("Internal note"), "reply": _l("Reply to the complainant"),
                     "complainant": _l("From the complainant"), "org_request": _l("Question to the provider and municipality"),
                     "org_answer": _l("Answer of the provider or municipality")}

SEX = {"female": _l("Female"), "male": _l("Male")}

AGE_BAND = {"0_17": _l("0–17"), "18_64": _l("18–64"), "65_79": _l("65–79"), "80_plus": _l("80 and over")}

LEAVING_REASON = {"goals_met": _l("The service is no longer needed"),
                  "decision_ended": _l("The ЦСР decision expired or was revoked"),
                  "moved": _l("Moved away"), "other_service": _l("Moved to another service or provider"),
                  "institution": _l("Went to hospital or residential care"),
                  "declined": _l("The person or family declined the service"), "died": _l("Died"),
                  "other": _l("Another reason")}

DUPLICATE_OUTCOME = {"legitimate": _l("Legitimate: both services were really given"),
                     "corrected": _l("Corrected: one of the episodes was wrong and has been corrected")}

REGISTER_CHANGE = {"added": _l("added"), "ended": _l("ended"), "corrected": _l("corrected")}

#: What an audit row records, in words. Codes built at run time (`application.<endorsement>`, …) are listed.
AUDIT_ACTION = {
    "agreement.amended": _l("Agreement amended"),
    "agreement.signed": _l("Agreement signed"),
    "api_token.created": _l("API token created"),
    "api_token.revoked": _l("API token revoked"),
    "application.created": _l("Application started"),
    "application.saved": _l("Application saved"),
    "application.screened": _l("Application screened"),
    "application.submitted": _l("Application submitted"),
    "application.withdrawn": _l("Application withdrawn"),
    "application.endorsed": _l("Application endorsed"),
    "application.declined": _l("Endorsement declined"),
    "application.pending": _l("Endorsement reset"),
    "application.award": _l("Application awarded"),
    "application.reserve": _l("Application put on the reserve list"),
    "application.reject": _l("Application rejected"),
    "call.amended": _l("Call amended"),
    "call.created": _l("Call created"),
    "call.review_settings": _l("Review settings changed"),
    "call.rubric_set": _l("Rubric set"),
    "call.published": _l("Call published"),
    "call.deadline_announced": _l("Applicants told of a new deadline"),
    "call.updated": _l("Call draft changed"),
    "document.uploaded": _l("Document uploaded"),
    "eoi.clarification_requested": _l("Clarification requested"),
    "eoi.created": _l("Expression of interest started"),
    "eoi.message": _l("Message on an expression of interest"),
    "eoi.saved": _l("Expression of interest saved"),
    "eoi.submitted": _l("Expression of interest submitted"),
    "eoi.withdrawn": _l("Expression of interest withdrawn"),
    "eoi.accepted": _l("Expression of interest accepted"),
    "eoi.rejected": _l("Expression of interest rejected"),
    "eoi.clarification": _l("Clarification requested"),
    "exchange_rate.added": _l("Exchange rate added"),
    "grievance.acknowledged": _l("Concern acknowledged"),
    "grievance.assigned": _l("Concern assigned to a handler"),
    "grievance.closed": _l("Concern closed"),
    "grievance.complainant_wrote": _l("The complainant wrote"),
    "grievance.escalated": _l("Concern escalated"),
    "grievance.marked_sensitive": _l("Concern marked sensitive"),
    "grievance.note_added": _l("Internal note on a concern"),
    "grievance.overdue_digest": _l("Overdue concerns sent to a handler"),
    "grievance.party_answered": _l("Provider or municipality answered on a concern"),
    "grievance.party_asked": _l("Provider and municipality asked about a concern"),
    "grievance.reopened": _l("Concern re-opened"),
    "grievance.replied": _l("Reply sent to the complainant"),
    "grievance.settings_changed": _l("Grievance settings changed"),
    "grievance.submitted": _l("Concern received"),
    "indicator.updated": _l("Indicator updated"),
    "isr_comment.added": _l("ISR comment saved (new version)"),
    "ledger.commitment": _l("Commitment recorded"),
    "ledger.disbursement": _l("Disbursement recorded"),
    "login.failed": _l("Sign-in failed"),
    "login.succeeded": _l("Signed in"),
    "login.throttled": _l("Sign-in blocked after too many attempts"),
    "logout": _l("Signed out"),
    "mfa.enrolled": _l("Second factor set up"),
    "mfa.enrolment_started": _l("Second factor set-up started"),
    "mfa.failed": _l("Wrong second-factor code"),
    "mfa.recovery_code_used": _l("Signed in with a recovery code"),
    "mfa.recovery_codes_replaced": _l("New recovery codes made"),
    "mfa.reset": _l("Second factor reset by an administrator"),
    "mfa.throttled": _l("Second factor blocked after too many attempts"),
    "mfa.verified": _l("Second factor confirmed"),
    "organisation.created": _l("Organisation created"),
    "organisation.registered": _l("Organisation registered"),
    "organisation.updated": _l("Organisation updated"),
    "organisation.verified": _l("Provider verified"),
    "organisation.rejected": _l("Provider not accepted"),
    "password.changed": _l("Password changed"),
    "password.reset": _l("Password reset"),
    "password.reset_requested": _l("Password reset requested"),
    "programme.report_settings": _l("Report settings changed"),
    "programme.updated": _l("Programme updated"),
    "reference.created": _l("Reference data added"),
    "reference.updated": _l("Reference data corrected"),
    "budget_amendment.approved": _l("Budget amendment approved"),
    "budget_amendment.rejected": _l("Budget amendment rejected"),
    "budget_amendment.requested": _l("Budget amendment requested"),
    "financial_report.accepted": _l("Financial report accepted"),
    "financial_report.created": _l("Financial report started"),
    "financial_report.imported": _l("Financial report entered from a spreadsheet"),
    "exchange_rates.loaded": _l("Exchange rates loaded"),
    "financial_report.returned": _l("Financial report returned"),
    "financial_report.revision_started": _l("Financial report revision started"),
    "financial_report.saved": _l("Financial report saved"),
    "financial_report.submitted": _l("Financial report submitted"),
    "financial_report.reminder_sent": _l("Financial report reminder sent"),
    "financial_report.overdue_sent": _l("Overdue financial report notice sent"),
    "register.anonymised": _l("Register anonymised (retention)"),
    "register.duplicate_resolved": _l("Register duplicate resolved"),
    "register.episode_added": _l("Service user added to a register"),
    "register.episode_corrected": _l("Register episode corrected"),
    "register.episode_ended": _l("Register episode ended"),
    "register.exported": _l("Register downloaded"),
    "register.imported": _l("Register imported from a file"),
    "register.rekeyed": _l("Register re-keyed"),
    "register.viewed": _l("Register page viewed"),
    "report.accepted": _l("Report accepted"),
    "report.correction_requested": _l("Report correction requested"),
    "report.created": _l("Report started"),
    "report.returned": _l("Report returned"),
    "report.revision_started": _l("Report revision started"),
    "report.saved": _l("Report saved"),
    "report.submitted": _l("Report submitted"),
    "report.reminder_sent": _l("Report reminder sent"),
    "report.overdue_sent": _l("Overdue report notice sent"),
    "review.assigned": _l("Reviewer assigned"),
    "review.conflict_declared": _l("Conflict of interest declared"),
    "review.moderated": _l("Scores moderated"),
    "review.rescored": _l("Application re-scored"),
    "review.submitted": _l("Review submitted"),
    "stress.seeded": _l("Test data loaded"),
    "tranche.approved": _l("Tranche release approved"),
    "tranche.paid": _l("Tranche paid"),
    "tranche.requested": _l("Tranche release requested"),
    "user.activated": _l("Account activated"),
    "user.admin_created": _l("Administrator account created"),
    "user.created": _l("Account created"),
    "user.deactivated": _l("Account deactivated"),
    "user.invitation_resent": _l("Invitation sent again"),
    "user.invited": _l("User invited"),
    "user.language_changed": _l("Language changed"),
    "user.reactivated": _l("Account reactivated"),
    "user.role_changed": _l("Role changed"),
}

#: The kind of object an audit row is about (table names and the short names some rows use).
OBJECT_TYPE = {
    "user_account": _l("User account"), "user": _l("User account"), "login": _l("Sign-in"),
    "organisation": _l("Organisation"), "call": _l("Call"), "call_amendment": _l("Call amendment"),
    "rubric_criterion": _l("Rubric criterion"), "application": _l("Application"), "eoi": _l("Expression of interest"),
    "eoi_message": _l("Message"), "review": _l("Review"), "review_assignment": _l("Review assignment"),
    "moderation": _l("Moderation"), "award_decision": _l("Award decision"), "document": _l("Document"),
    "agreement": _l("Grant agreement"), "grant_agreement": _l("Grant agreement"), "tranche": _l("Tranche"),
    "ledger_entry": _l("Ledger entry"), "report": _l("Monthly report"), "monthly_report": _l("Monthly report"),
    "report_notice": _l("Report notice"), "programme": _l("Programme"), "exchange_rate": _l("Exchange rate"),
    "indicator": _l("Indicator"), "api_token": _l("API token"), "isr_comment": _l("ISR comment"), "municipality": _l("Municipality"),
    "service_type": _l("Service type"), "service_category": _l("Service category"),
    "hard_to_employ_category": _l("Hard-to-employ group"), "region": _l("Region"),
    "grievance": _l("Concern"), "grievance_settings": _l("Grievance settings"),
    "financial_report": _l("Financial report"), "budget_amendment": _l("Budget amendment"),
    "financial_report_period": _l("Financial reporting period"),
    "daily_exchange_rate": _l("NBRM exchange rates"),
    "register": _l("Service-user register"), "register_episode": _l("Register episode"),
    "register_key": _l("Register key"), "register_duplicate_resolution": _l("Register duplicate decision"),
}

#: What an indicator measures (portal.indicators.rollup): the time rule of its periods.
INDICATOR_MEASURE = {
    "cumulative": _l("since the start (cumulative)"),
    "cumulative_unique": _l("different people since the start (cumulative, each person once)"),
    "stock": _l("in the period's last month (stock)"),
    "flow": _l("within the period (flow)"),
    "ratio": _l("a share (ratio)"),
}

#: A budget amendment's status (issue 18).
BUDGET_AMENDMENT_STATUS = {"pending": _l("waiting for a decision"), "approved": _l("approved"),
                           "rejected": _l("rejected")}

KINDS: dict[str, dict[str, Any]] = {
    "budget_amendment_status": BUDGET_AMENDMENT_STATUS,
    "indicator_measure": INDICATOR_MEASURE,
    "role": ROLE, "org_kind": ORG_KIND, "org_status": ORG_STATUS, "legal_form": LEGAL_FORM,
    "call_status": CALL_STATUS, "call_kind": CALL_KIND, "application_status": APPLICATION_STATUS,
    "endorsement": ENDORSEMENT, "eligibility": ELIGIBILITY, "outcome": OUTCOME, "eoi_status": EOI_STATUS,
    "report_status": REPORT_STATUS, "timeliness": TIMELINESS, "tranche_status": TRANCHE_STATUS,
    "entry_kind": ENTRY_KIND, "indicator_unit": INDICATOR_UNIT, "audit_action": AUDIT_ACTION, "object_type": OBJECT_TYPE,
    "grievance_category": GRIEVANCE_CATEGORY, "grievance_status": GRIEVANCE_STATUS, "grievance_message": GRIEVANCE_MESSAGE,
    "sex": SEX, "age_band": AGE_BAND, "leaving_reason": LEAVING_REASON, "duplicate_outcome": DUPLICATE_OUTCOME,
    "register_change": REGISTER_CHANGE,
}


def code_of(value: Any) -> str:
    if value is None:
        return ""
    return str(value.value) if isinstance(value, enum.Enum) else str(value)


def label(value: Any, kind: str) -> str:
    """The words for `value` (an enum member or its code) of the given kind, in the current language."""
    if value is None or value == "":
        return ""
    code = code_of(value)
    text = KINDS[kind].get(code)
    return str(text) if text is not None else code


def object_label(object_type: str | None, object_id: Any = None) -> str:
    """"User account #14" rather than "user_account 14"."""
    if not object_type:
        return ""
    name = label(object_type, "object_type")
    return f"{name} #{object_id}" if object_id not in (None, "") else name


def known_codes(*kinds: str) -> set[str]:
    """Every code of the given kinds (all when none is given): what must never show on a translated page."""
    chosen = kinds or tuple(KINDS)
    return {code for kind in chosen for code in KINDS[kind]}


def register(app) -> None:
    app.jinja_env.filters["label"] = label
    app.jinja_env.globals["label"] = label
    app.jinja_env.globals["object_label"] = object_label
