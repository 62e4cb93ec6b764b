"""User administration: invitations, role and profile changes, deactivation."""

from __future__ import annotations

import sqlalchemy as sa
from flask_babel import gettext as _
from sqlalchemy.orm import Session

from portal import access, audit
from portal.auth.services import normalise_email, send_link
from portal.errors import Conflict, InvalidTransition, NotAllowed, ValidationFailed
from portal.models import ROLES_BY_KIND, Organisation, Role, TokenPurpose, User

USER_FIELDS = ["email", "full_name", "role", "organisation_id", "active", "preferred_language"]


def _check_role(org: Organisation, role: Role) -> None:
    if role not in ROLES_BY_KIND[org.kind]:
        raise ValidationFailed(field_errors={"role": [
            _("This role is not possible for this organisation. Choose one of: %(roles)s.",
              roles=", ".join(role_label(r) for r in ROLES_BY_KIND[org.kind]))]})


def role_label(role: Role) -> str:
    from portal.labels import label

    return label(role, "role")


def invite_user(session: Session, actor: User, org: Organisation, email: str, full_name: str, role: Role,
                language: str) -> User:
    if not access.can_manage_users(actor):
        raise NotAllowed()
    email = normalise_email(email)
    _check_role(org, role)
    if session.scalar(sa.select(User.id).where(User.email == email)) is not None:
        raise ValidationFailed(field_errors={"email": [_("A user with this email address already exists.")]})
    user = User(email=email, full_name=full_name.strip(), role=role, organisation=org,
                preferred_language=language)
    session.add(user)
    session.flush()
    send_link(session, user, TokenPurpose.ACTIVATION)
    audit.record(session, actor, "user.invited", user, after=audit.snapshot(user, USER_FIELDS))
    return user


def resend_invitation(session: Session, actor: User, user: User) -> None:
    if not access.can_manage_users(actor):
        raise NotAllowed()
    if user.is_activated:
        raise InvalidTransition(_("This user has already activated the account."))
    if not user.active:
        raise InvalidTransition(_("Reactivate the user before sending a new invitation."))
    send_link(session, user, TokenPurpose.ACTIVATION)
    audit.record(session, actor, "user.invitation_resent", user)


def update_user(session: Session, actor: User, user: User, full_name: str, role: Role, version_id: int) -> User:
    if not access.can_manage_users(actor):
        raise NotAllowed()
    if version_id != user.version_id:
        raise Conflict()
    _check_role(user.organisation, role)
    if user.id == actor.id and role != user.role:
        raise ValidationFailed(field_errors={"role": [_("You cannot change your own role. Ask another administrator.")]})
    before = audit.snapshot(user, USER_FIELDS)
    role_changed = role != user.role
    user.full_name = full_name.strip()
    user.role = role
    if role_changed:
        user.session_version += 1  # a new role takes effect at the next sign-in
    if before == audit.snapshot(user, USER_FIELDS):
        return user
    try:
        session.flush()
    except sa.orm.exc.StaleDataError:
        raise Conflict() from None
    audit.record(session, actor, "user.role_changed" if role_changed else "user.updated", user, before=before,
                 after=audit.snapshot(user, USER_FIELDS))
    return user


def deactivate_user(session: Session, actor: User, user: User, reason: str) -> User:
    if not access.can_manage_users(actor):
        raise NotAllowed()
    if user.id == actor.id:
        raise InvalidTransition(_("You cannot deactivate your own account."))
    if not user.active:
        raise InvalidTransition(_("This user is already deactivated."))
    if not reason.strip():
        raise ValidationFailed(field_errors={"reason": [_("Give the reason for deactivating this user.")]})
    user.active = False
    user.session_version += 1  # every open session ends now
    audit.record(session, actor, "user.deactivated", user, before={"active": True},
                 after={"active": False, "reason": reason.strip()})
    return user


def reactivate_user(session: Session, actor: User, user: User) -> User:
    if not access.can_manage_users(actor):
        raise NotAllowed()
    if user.active:
        raise InvalidTransition(_("This user is already active."))
    user.active = True
    audit.record(session, actor, "user.reactivated", user, before={"active": False}, after={"active": True})
    return user


def users_query(search: str = "", role: str = "", organisation_id: int | None = None,
                status: str = "") -> sa.Select[tuple[User]]:
    query = sa.select(User).join(User.organisation).options(sa.orm.contains_eager(User.organisation))
    if search:
        like = f"%{search.strip().lower()}%"
        query = query.where(sa.or_(User.email.like(like), sa.func.lower(User.full_name).like(like)))
    if role and role in {r.value for r in Role}:
        query = query.where(User.role == Role(role))
    if organisation_id:
        query = query.where(User.organisation_id == organisation_id)
    if status == "active":
        query = query.where(User.active.is_(True), User.password_hash.is_not(None))
    elif status == "invited":
        query = query.where(User.active.is_(True), User.password_hash.is_(None))
    elif status == "inactive":
        query = query.where(User.active.is_(False))
    return query.order_by(Organisation.name, User.full_name, User.id)
