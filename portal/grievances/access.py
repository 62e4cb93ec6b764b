"""Who may see and do what on a grievance. One function per permission, `(user, case) -> bool`; the routes
check them first and the service checks them again on the case itself.

- **Handlers** are ministry administrators and reviewers (the grievance focal points). They see every case that
  is not sensitive, acknowledge, write notes and replies, ask the provider or municipality, escalate, close and
  re-open. Administrators also assign a handler and change the settings.
- **Sensitive cases** (safeguarding and abuse, corruption and fraud — flagged automatically from the category)
  are seen only by the ministry users *named on the case*: the handler assigned and the administrator who
  assigned them. Until someone is named, administrators see the case (to assign it); once named, other
  administrators and reviewers no longer see it in any list, count or page.
- **Providers and municipalities** see the cases about their own grants that are not sensitive — the category,
  the description and the exchange the ministry opens with them — and answer when the ministry asks. They never
  see who complained (name, e-mail, phone, anonymity), the internal notes or the replies to the complainant.
- **The complainant** sees their own case through the secret link only (no account).
"""

from __future__ import annotations

from typing import Any

from portal.models import Grievance, Role


def _active(user: Any) -> bool:
    return bool(user is not None and getattr(user, "is_authenticated", False))


def is_handler(user: Any) -> bool:
    return _active(user) and user.role in (Role.ADMIN, Role.REVIEWER)


def can_assign(user: Any) -> bool:
    return _active(user) and user.role == Role.ADMIN


def can_manage_settings(user: Any) -> bool:
    return can_assign(user)


def is_named(user: Any, case: Grievance) -> bool:
    return _active(user) and (case.handler_id == user.id or any(h.user_id == user.id for h in case.named))


def can_handle(user: Any, case: Grievance) -> bool:
    """Read everything on the case (contact details included) and act on it."""
    if not is_handler(user):
        return False
    if not case.sensitive:
        return True
    if is_named(user, case):
        return True
    # A sensitive case nobody has been named on yet: the administrators, who assign it.
    return can_assign(user) and case.handler_id is None and not case.named


def can_assign_case(user: Any, case: Grievance) -> bool:
    return can_assign(user) and can_handle(user, case)


def is_party(user: Any, case: Grievance) -> bool:
    """The provider that holds the grant the case is about, or the municipality where it runs."""
    if not _active(user) or case.sensitive or case.agreement is None:
        return False
    if user.role == Role.PROVIDER:
        return user.organisation_id == case.agreement.organisation_id
    if user.role == Role.MUNICIPALITY:
        return user.organisation_id == case.agreement.municipality_org_id
    return False


def can_view(user: Any, case: Grievance) -> bool:
    return can_handle(user, case) or is_party(user, case)


def can_answer(user: Any, case: Grievance) -> bool:
    """A party answers once the ministry has asked it (and the case is not closed)."""
    from portal.models import GrievanceStatus

    return is_party(user, case) and case.org_asked_at is not None and case.status != GrievanceStatus.CLOSED


def can_list(user: Any) -> bool:
    return is_handler(user) or (_active(user) and user.role in (Role.PROVIDER, Role.MUNICIPALITY))


def can_view_figures(user: Any) -> bool:
    return _active(user) and user.is_ministry


def can_download_evidence(user: Any, document: Any) -> bool:
    """Evidence may name people: only those who handle the case."""
    from portal.db import db

    if not document.object_id.isdigit():
        return False
    case = db.get(Grievance, int(document.object_id))
    return case is not None and can_handle(user, case)
