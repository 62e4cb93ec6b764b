"""Who may answer a call and how: the public call page asks here rather than deciding in the template."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask_babel import gettext as _
from sqlalchemy.orm import Session

from portal import access
from portal.models import Call, CallKind, CallStatus, OrgStatus

#: The visitor's situation towards the call.
ANONYMOUS, CAN_APPLY, NOT_VERIFIED, OTHER_ROLE, NOT_OPEN = "anonymous", "can_apply", "not_verified", "other_role", "not_open"


@dataclass
class Guidance:
    who: str
    steps: list[str] = field(default_factory=list)
    state: str = ANONYMOUS
    message: str = ""
    municipalities: list[str] = field(default_factory=list)
    register: bool = False  # show the "register your organisation" link


def how_to_apply(session: Session, call: Call, user: Any, now: datetime) -> Guidance:
    """Who may apply to `call`, the steps, and where this visitor stands."""
    if call.kind == CallKind.GRANT:
        from portal.applications.services import eligible_municipalities

        guidance = Guidance(
            who=_("Licensed social service providers (associations, companies, licensed professionals and public "
                  "institutions) registered and verified on this portal, for services in the municipalities listed "
                  "below."),
            steps=[_("Register your organisation on the portal (tax number, licence) and activate your account from "
                     "the e-mail you receive."),
                   _("Wait for the ministry to verify your organisation; you are told by e-mail."),
                   _("Sign in, open this call and choose “Apply for a grant”, then the municipality."),
                   _("Fill in the application, upload the required documents and submit before the deadline. You "
                     "receive a receipt by e-mail.")],
            municipalities=[m.name for m in eligible_municipalities(session, call)], register=True)
        can_prepare = access.can_prepare_application(user)
    else:
        guidance = Guidance(
            who=_("Municipalities, through their officer's account on this portal. Accounts are opened by the "
                  "ministry: write to it if your municipality has none."),
            steps=[_("Sign in with the account the ministry opened for your municipality."),
                   _("Open this call and choose “Prepare your expression of interest”."),
                   _("Fill in the services and the co-financing, upload the council decision and submit before the "
                     "deadline.")])
        can_prepare = access.can_prepare_eoi(user)
    is_open = call.status == CallStatus.PUBLISHED and call.opens_at <= now < call.closes_at
    if not getattr(user, "is_authenticated", False):
        guidance.state = ANONYMOUS
    elif not can_prepare:
        guidance.state = OTHER_ROLE
        guidance.message = _("Your account is not one that answers this call.")
    elif call.kind == CallKind.GRANT and user.organisation.status != OrgStatus.VERIFIED:
        guidance.state = NOT_VERIFIED
        guidance.message = _("Your organisation can apply once the ministry has verified it.")
    else:
        guidance.state = CAN_APPLY
    if not is_open:
        guidance.state = NOT_OPEN if guidance.state in (CAN_APPLY, NOT_VERIFIED) else guidance.state
        guidance.message = _("This call does not take applications now.") if call.status != CallStatus.DRAFT else ""
    return guidance
