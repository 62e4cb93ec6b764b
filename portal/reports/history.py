"""A monthly report's versions and what changed between them, and which version a person sees. Reached through
`portal.reports.services` too."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask_babel import gettext as _
from sqlalchemy.orm import Session

from portal import access
from portal.models import MonthlyReport, ReportVersion, VersionStatus
from portal.reports import validation
from portal.reports.services import active_categories, data_of
from portal.reports.validation import ReportData


@dataclass
class Change:
    label: str
    before: Any
    after: Any


def _flat(data: ReportData) -> dict[str, tuple[str, Any]]:
    flat: dict[str, tuple[str, Any]] = {}
    for line in data.services:
        for name, label in validation.BENEFICIARY_LABELS.items():
            flat[f"s{line.service_type_id}.{name}"] = (f"{line.label}: {label}", getattr(line, name))
    for name, label in validation.STAFF_LABELS.items():
        flat[name] = (str(label), getattr(data, name))
    for hire in data.hires:
        for name, label in validation.HIRE_LABELS.items():
            flat[f"h{hire.category_id}.{name}"] = (f"{hire.label}: {label}", getattr(hire, name))
    flat["narrative"] = (_("Narrative"), data.narrative)
    flat["explanation"] = (_("Explanation of the warnings"), data.explanation)
    return flat


def history(session: Session, report: MonthlyReport) -> list[tuple[ReportVersion, list[Change]]]:
    """Every version, newest first, with what changed from the version before it."""
    categories = active_categories(session)
    out, previous = [], None
    for version in report.versions:
        current = _flat(data_of(session, version, categories))
        changes = []
        if previous is not None:
            for key, (label, value) in current.items():
                old = previous.get(key, (label, 0 if not isinstance(value, str) else ""))[1]
                if old != value:
                    changes.append(Change(label, old, value))
        out.append((version, changes))
        previous = current
    return list(reversed(out))


def visible_version(user: Any, report: MonthlyReport) -> ReportVersion:
    """What a user sees: the provider its newest version; everyone else the newest version past draft."""
    if access.can_edit_reports_of(user, report.agreement):
        return report.newest
    return [v for v in report.versions if v.status != VersionStatus.DRAFT][-1]
