"""Monthly reports filled from the service-user register (issue 16): every rule of it in one place.

A grant whose call requires a register (`Call.register_required`, set in the call's review settings) does not type
the beneficiaries of its monthly reports: per service type, those served, new, continuing and those who left, by sex,
age band and disability, and the new ones by the same (every field of `BENEFICIARY_FIELDS` but the service hours)
are what `portal.register.figures.month_figures` computes from the register for the month. The provider sees them
read-only and confirms them; hours, staff, the hard-to-employ groups, the narrative and the explanation of warnings
are typed as before.

- `fill` writes the register's figures over whatever was posted (the form, the bulk file): `reports.services.save`
  and `submit` call it, so a posted beneficiary figure is never trusted, and submitting fills the draft again from
  the register as it is at that moment. The version records it (`ReportVersion.beneficiaries_from_register`).
- A submitted version is never changed (the database refuses it); if the register is corrected later, `drift` lists
  where the register's figures for the month now differ from the version, for the reviewer (and the provider, who
  can request a correction: the new version is filled from the register again).
- The bulk upload (`refused_cells`): a beneficiary cell of such a grant left empty or equal to the register's figure
  is accepted (and filled from the register); any other number is refused with the register's figure, so a provider
  never believes a typed number was imported. Only the service hours are read from the file.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from flask_babel import gettext as _
from sqlalchemy.orm import Session

from portal.models import GrantAgreement, MonthlyReport, ReportVersion, ServiceType, VersionStatus
from portal.models.reports import BENEFICIARY_FIELDS
from portal.reports.validation import BENEFICIARY_LABELS, ReportData, ServiceFigures

#: The figures of a service line that come from the register: all but the service hours.
REGISTER_FIELDS = tuple(name for name in BENEFICIARY_FIELDS if name != "service_hours")


def applies(agreement: GrantAgreement) -> bool:
    """Whether the grant's reports take their beneficiaries from its register: its call requires one."""
    return bool(agreement.call.register_required)


def figures(session: Session, agreement: GrantAgreement, month: date) -> dict[int, dict[str, int]]:
    """{service type id: {field: count}} of the month, from the register as it is now."""
    from portal.register.figures import month_figures

    return month_figures(session, agreement, month)


def fill(session: Session, agreement: GrantAgreement, month: date, data: ReportData) -> ReportData:
    """`data` with every register figure of every service line replaced by the register's (0 for a service nobody
    received); the service hours and everything else stay as given."""
    register = figures(session, agreement, month)
    for line in data.services:
        row = register.get(line.service_type_id, {})
        for name in REGISTER_FIELDS:
            setattr(line, name, row.get(name, 0))
    known = {line.service_type_id for line in data.services}
    for type_id, row in register.items():  # a service type the grant no longer lists, still in the register
        if type_id not in known:
            service_type = session.get(ServiceType, type_id)
            data.services.append(ServiceFigures(service_type_id=type_id, label=service_type.name() if service_type else "",
                                                service_hours=0, **{name: row.get(name, 0) for name in REGISTER_FIELDS}))
    return data


def draft_template(session: Session, report: MonthlyReport) -> ReportData:
    """What the report form starts from: the newest version's figures, with the register's where they apply."""
    from portal.reports.services import data_of

    data = data_of(session, report.newest)
    if applies(report.agreement):
        fill(session, report.agreement, report.month, data)
    return data


def refresh(session: Session, version: ReportVersion) -> None:
    """Fill a draft's service lines from the register again (at submission: the register may have changed since the
    draft was saved)."""
    from portal.reports.services import _write_lines, data_of

    if version.status != VersionStatus.DRAFT:
        raise ValueError("only a draft is filled from the register")
    report = version.report
    _write_lines(version, fill(session, report.agreement, report.month, data_of(session, version)))
    version.beneficiaries_from_register = True


@dataclass
class Difference:
    service: str
    field: str
    reported: int
    register: int


def drift(session: Session, version: ReportVersion) -> list[Difference]:
    """Where the register's figures for the month now differ from a submitted version filled from it (nothing for a
    draft, or for a version whose figures were typed)."""
    if not version.beneficiaries_from_register or version.status == VersionStatus.DRAFT:
        return []
    report = version.report
    register = figures(session, report.agreement, report.month)
    lines = {line.service_type_id: line for line in version.services}
    found = []
    for type_id in sorted(set(lines) | set(register)):
        line, row = lines.get(type_id), register.get(type_id, {})
        label = line.service_type.name() if line else (session.get(ServiceType, type_id).name())
        for name in REGISTER_FIELDS:
            reported = getattr(line, name) if line else 0
            if reported != row.get(name, 0):
                found.append(Difference(label, str(BENEFICIARY_LABELS[name]), reported, row.get(name, 0)))
    return found


def refused_cells(session: Session, agreement: GrantAgreement, month: date,
                  typed: dict[int, dict[str, Any]]) -> list[tuple[int, str, str]]:
    """The bulk upload: (service type id, field, message) for every beneficiary cell of a register grant that holds a
    number other than the register's. `typed` holds, per service type, the cells that are not empty (parsed)."""
    register = figures(session, agreement, month)
    refused = []
    for type_id, cells in typed.items():
        row = register.get(type_id, {})
        for name in REGISTER_FIELDS:
            if name in cells and cells[name] is not None and cells[name] != row.get(name, 0):
                refused.append((type_id, name, _(
                    "%(field)s: %(typed)s typed, but the grant's beneficiaries come from its service-user register, "
                    "which has %(register)s for this month. Only the service hours are typed in this file: leave the "
                    "cell as pre-filled (or empty), and correct the register in the portal if it is wrong.",
                    field=BENEFICIARY_LABELS[name], typed=cells[name], register=row.get(name, 0))))
    return refused
