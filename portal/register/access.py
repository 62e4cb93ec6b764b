"""Who may see and change a grant's service-user register. One function per permission; the routes check them
first and the services check them again on the grant itself.

- **The provider** that holds the grant keeps its register: lists, adds, ends and corrects episodes.
- **The ministry's administrators and reviewers** read every register and the duplicate list, and resolve
  duplicates. Nobody can recover a personal number: the portal keeps none.
- **Municipalities** see, for the grants in their municipality, only counts (episodes, people served today).
- Finance officers and monitors see nothing of the registers yet (aggregates with small cells suppressed come
  later).
"""

from __future__ import annotations

from typing import Any

from portal.models import Role


def _active(user: Any) -> bool:
    return bool(user is not None and getattr(user, "is_authenticated", False))


def is_ministry_reader(user: Any) -> bool:
    return _active(user) and user.role in (Role.ADMIN, Role.REVIEWER)


def can_list_registers(user: Any) -> bool:
    """The list of grants with their counts: providers (their own grants), municipalities (the grants in their
    municipality, counts only: no link to any entry) and the ministry's readers."""
    return is_ministry_reader(user) or (_active(user) and user.role in (Role.PROVIDER, Role.MUNICIPALITY))


def can_open_registers(user: Any) -> bool:
    """Pages with entries: the provider's own grants (checked per grant by `can_view`) and the ministry's readers."""
    return is_ministry_reader(user) or (_active(user) and user.role == Role.PROVIDER)


def can_keep(user: Any, agreement: Any) -> bool:
    return _active(user) and user.role == Role.PROVIDER and user.organisation_id == agreement.organisation_id


def can_view(user: Any, agreement: Any) -> bool:
    return can_keep(user, agreement) or is_ministry_reader(user)


def can_view_duplicates(user: Any) -> bool:
    return is_ministry_reader(user)


def can_resolve_duplicates(user: Any) -> bool:
    return is_ministry_reader(user)
