"""The checks of a monthly report, in one place: the form, the bulk upload and the service all call
`check`. Blocking errors stop a submission; warnings can be overridden with an explanation, and are
stored with it for the reviewer — the way health-information systems check monthly data.

Every message names the field and the rule, with the figures the user typed."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from portal import i18n

CAPACITY_FACTOR = Decimal("1.5")
CHANGE_LIMIT = Decimal("0.5")
#: No figure of a monthly report is larger (beneficiaries, staff, hours in one month): a larger number is a typo,
#: and would not fit the database column.
MAX_FIGURE = 1_000_000

#: The labels of every figure, shown in forms, messages, the history and the XLSX template.
BENEFICIARY_LABELS: dict[str, Any] = {
    "total": _l("Beneficiaries served"),
    "female": _l("Women and girls"),
    "male": _l("Men and boys"),
    "age_0_17": _l("Aged 0–17"),
    "age_18_64": _l("Aged 18–64"),
    "age_65_79": _l("Aged 65–79"),
    "age_80_plus": _l("Aged 80 and over"),
    "with_disability": _l("With a disability"),
    "without_disability": _l("Without a disability"),
    "new_this_month": _l("New this month"),
    "new_female": _l("New: women and girls"),
    "new_male": _l("New: men and boys"),
    "new_age_0_17": _l("New: aged 0–17"),
    "new_age_18_64": _l("New: aged 18–64"),
    "new_age_65_79": _l("New: aged 65–79"),
    "new_age_80_plus": _l("New: aged 80 and over"),
    "new_with_disability": _l("New: with a disability"),
    "new_without_disability": _l("New: without a disability"),
    "continuing": _l("Continuing from earlier months"),
    "left_this_month": _l("Left the service this month"),
    "service_hours": _l("Service hours delivered"),
}
STAFF_LABELS: dict[str, Any] = {
    "staff_total": _l("Staff working on the grant"),
    "staff_female": _l("Women on the staff"),
    "staff_male": _l("Men on the staff"),
    "certified_caregivers": _l("Caregivers with the required certification"),
}
HIRE_LABELS: dict[str, Any] = {
    "total": _l("Staff from this group"),
    "female": _l("Of them women"),
    "new_this_month": _l("Newly hired this month"),
    "new_female": _l("Of the newly hired, women"),
    "continuing": _l("Continuing"),
    "note": _l("Note"),
}

#: (the parts, the whole): each group of parts adds up to the whole.
BENEFICIARY_SUMS = (
    (("female", "male"), _l("women and men")),
    (("age_0_17", "age_18_64", "age_65_79", "age_80_plus"), _l("the age bands")),
    (("with_disability", "without_disability"), _l("with and without a disability")),
    (("new_this_month", "continuing"), _l("new and continuing")),
)
#: The same for the new beneficiaries: each group of parts adds up to those new this month (issue 15).
NEW_SUMS = (
    (("new_female", "new_male"), _l("the new women and men")),
    (("new_age_0_17", "new_age_18_64", "new_age_65_79", "new_age_80_plus"), _l("the new by age band")),
    (("new_with_disability", "new_without_disability"), _l("the new with and without a disability")),
)
#: Each new part is among those served: never more than its counterpart.
NEW_PART_OF = {"new_female": "female", "new_male": "male", "new_age_0_17": "age_0_17", "new_age_18_64": "age_18_64",
               "new_age_65_79": "age_65_79", "new_age_80_plus": "age_80_plus", "new_with_disability": "with_disability",
               "new_without_disability": "without_disability"}


@dataclass
class ServiceFigures:
    service_type_id: int
    label: str = ""
    total: int | None = 0
    female: int | None = 0
    male: int | None = 0
    age_0_17: int | None = 0
    age_18_64: int | None = 0
    age_65_79: int | None = 0
    age_80_plus: int | None = 0
    with_disability: int | None = 0
    without_disability: int | None = 0
    new_this_month: int | None = 0
    new_female: int | None = 0
    new_male: int | None = 0
    new_age_0_17: int | None = 0
    new_age_18_64: int | None = 0
    new_age_65_79: int | None = 0
    new_age_80_plus: int | None = 0
    new_with_disability: int | None = 0
    new_without_disability: int | None = 0
    continuing: int | None = 0
    left_this_month: int | None = 0
    service_hours: int | None = 0


@dataclass
class HireFigures:
    category_id: int
    label: str = ""
    requires_note: bool = False
    total: int | None = 0
    female: int | None = 0
    new_this_month: int | None = 0
    new_female: int | None = 0
    continuing: int | None = 0
    note: str = ""


@dataclass
class ReportData:
    services: list[ServiceFigures] = field(default_factory=list)
    hires: list[HireFigures] = field(default_factory=list)
    staff_total: int | None = 0
    staff_female: int | None = 0
    staff_male: int | None = 0
    certified_caregivers: int | None = 0
    narrative: str = ""
    explanation: str = ""

    @property
    def beneficiaries(self) -> int:
        return sum(s.total or 0 for s in self.services)

    @property
    def hard_to_employ(self) -> int:
        return sum(h.total or 0 for h in self.hires)


@dataclass
class Context:
    """What the rules need to know beyond the figures."""

    month: date
    first_month: date
    last_month: date
    current_month: date
    capacity: int | None = None  # contracted beneficiaries per month
    previous: tuple[int, int] | None = None  # (beneficiaries, staff) of the month before, as accepted
    # service type → (served, left) of the month before, for the continuity warning (None: no month before)
    previous_lines: dict[int, tuple[int, int]] | None = None
    today: date | None = None  # Skopje date of the submission: a month is submitted once it has ended
    early_days: int = 0  # … or this many days before its end


#: A field is addressed by a path: ("service", service_type_id, name), ("hire", category_id, name),
#: ("staff", name), ("month",) or ("explanation",).
Path = tuple[Any, ...]


@dataclass
class Issue:
    path: Path
    message: str


@dataclass
class ReportWarning:
    code: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


@dataclass
class Result:
    errors: list[Issue] = field(default_factory=list)
    warnings: list[ReportWarning] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_FIGURE


def _number_errors(data: ReportData) -> list[Issue]:
    """Every figure is a whole number, 0 or more."""
    issues = []
    for line in data.services:
        for name in BENEFICIARY_LABELS:
            if not _whole(getattr(line, name)):
                issues.append(Issue(("service", line.service_type_id, name), _(
                    "%(service)s, %(field)s: enter a whole number from 0 to %(max)s.", max=i18n.number(MAX_FIGURE), service=line.label,
                    field=BENEFICIARY_LABELS[name])))
    for name in STAFF_LABELS:
        if not _whole(getattr(data, name)):
            issues.append(Issue(("staff", name), _("%(field)s: enter a whole number from 0 to %(max)s.", max=i18n.number(MAX_FIGURE),
                                                   field=STAFF_LABELS[name])))
    for hire in data.hires:
        for name in ("total", "female", "new_this_month", "new_female", "continuing"):
            if not _whole(getattr(hire, name)):
                issues.append(Issue(("hire", hire.category_id, name), _(
                    "%(group)s, %(field)s: enter a whole number from 0 to %(max)s.", max=i18n.number(MAX_FIGURE), group=hire.label,
                    field=HIRE_LABELS[name])))
    return issues


def check_values(data: ReportData) -> Result:
    """What a draft must satisfy to be saved: only whole, non-negative numbers (sums may still be open)."""
    return Result(errors=_number_errors(data))


def _sum_errors(data: ReportData) -> list[Issue]:
    issues = []
    for line in data.services:
        for parts, what in BENEFICIARY_SUMS:
            added = sum(getattr(line, p) for p in parts)
            if added != line.total:
                issues.append(Issue(("service", line.service_type_id, parts[0]), _(
                    "%(service)s: %(what)s add up to %(sum)d, but the beneficiaries served are %(total)d.",
                    service=line.label, what=what, sum=added, total=line.total)))
        for parts, what in NEW_SUMS:
            added = sum(getattr(line, p) for p in parts)
            if added != line.new_this_month:
                issues.append(Issue(("service", line.service_type_id, parts[0]), _(
                    "%(service)s: %(what)s add up to %(sum)d, but those new this month are %(new)d.",
                    service=line.label, what=what, sum=added, new=line.new_this_month)))
        for name, served in NEW_PART_OF.items():
            if getattr(line, name) > getattr(line, served):
                issues.append(Issue(("service", line.service_type_id, name), _(
                    "%(service)s, %(field)s: %(new)d, more than the %(served)d under “%(served_field)s”. The new "
                    "beneficiaries are among those served this month.", service=line.label, field=BENEFICIARY_LABELS[name],
                    new=getattr(line, name), served=getattr(line, served), served_field=BENEFICIARY_LABELS[served])))
        if line.left_this_month > line.total:
            issues.append(Issue(("service", line.service_type_id, "left_this_month"), _(
                "%(service)s: %(left)d left the service, more than the %(total)d served this month.",
                service=line.label, left=line.left_this_month, total=line.total)))
    if data.staff_female + data.staff_male != data.staff_total:
        issues.append(Issue(("staff", "staff_female"), _(
            "Women (%(women)d) and men (%(men)d) on the staff add up to %(sum)d, but the staff working on the grant "
            "are %(total)d.", women=data.staff_female, men=data.staff_male, sum=data.staff_female + data.staff_male,
            total=data.staff_total)))
    if data.certified_caregivers > data.staff_total:
        issues.append(Issue(("staff", "certified_caregivers"), _(
            "Certified caregivers (%(n)d) cannot be more than the staff working on the grant (%(total)d).",
            n=data.certified_caregivers, total=data.staff_total)))
    if data.hard_to_employ > data.staff_total:
        issues.append(Issue(("staff", "staff_total"), _(
            "Staff from hard-to-employ groups (%(n)d) cannot be more than the staff working on the grant (%(total)d): "
            "count each person once, under one primary group.", n=data.hard_to_employ, total=data.staff_total)))
    for hire in data.hires:
        if hire.new_this_month + hire.continuing != hire.total:
            issues.append(Issue(("hire", hire.category_id, "new_this_month"), _(
                "%(group)s: newly hired (%(new)d) and continuing (%(old)d) add up to %(sum)d, but the staff from this "
                "group are %(total)d.", group=hire.label, new=hire.new_this_month, old=hire.continuing,
                sum=hire.new_this_month + hire.continuing, total=hire.total)))
        if hire.female > hire.total:
            issues.append(Issue(("hire", hire.category_id, "female"), _(
                "%(group)s: the women (%(n)d) cannot be more than the staff from this group (%(total)d).",
                group=hire.label, n=hire.female, total=hire.total)))
        if hire.new_female > hire.new_this_month:
            issues.append(Issue(("hire", hire.category_id, "new_female"), _(
                "%(group)s: the newly hired women (%(n)d) cannot be more than the newly hired (%(new)d).",
                group=hire.label, n=hire.new_female, new=hire.new_this_month)))
        if hire.new_female > hire.female:
            issues.append(Issue(("hire", hire.category_id, "new_female"), _(
                "%(group)s: the newly hired women (%(n)d) cannot be more than the women from this group (%(women)d).",
                group=hire.label, n=hire.new_female, women=hire.female)))
        if hire.requires_note and hire.total and not hire.note.strip():
            issues.append(Issue(("hire", hire.category_id, "note"), _(
                "%(group)s: say which group these staff belong to in the note.", group=hire.label)))
    return issues


def check_month(context: Context) -> list[Issue]:
    if not context.first_month <= context.month <= context.last_month:
        return [Issue(("month",), _("The month %(month)s is outside the grant, which runs from %(first)s to %(last)s.",
                                    month=f"{context.month:%Y-%m}", first=f"{context.first_month:%Y-%m}",
                                    last=f"{context.last_month:%Y-%m}"))]
    if context.month > context.current_month:
        return [Issue(("month",), _("The month %(month)s has not begun yet: a month is reported once it is under way.",
                                    month=f"{context.month:%Y-%m}"))]
    return []


def submittable_from(month: date, early_days: int = 0) -> date:
    """The first day (Skopje) a month's report may be submitted: the day after the month ends, or `early_days`
    before that."""
    following = date(month.year + month.month // 12, month.month % 12 + 1, 1)
    return following - timedelta(days=early_days)


def check_ended(context: Context) -> list[Issue]:
    """A month is reported once it is over (a draft can be kept while it runs)."""
    if context.today is None:
        return []
    opens = submittable_from(context.month, context.early_days)
    if context.today < opens:
        return [Issue(("month",), _("The month %(month)s has not ended yet: its report can be submitted from %(day)s. "
                                    "You can save it as a draft until then.", month=f"{context.month:%Y-%m}",
                                    day=opens.strftime("%d.%m.%Y")))]
    return []


def _continuity(data: ReportData, context: Context) -> list[ReportWarning]:
    """Those continuing from last month are those served then minus those who left; a month with nobody after a
    month with people (or staff) is probably a mistake."""
    found = []
    if context.previous_lines is not None:
        for line in data.services:
            served, left = context.previous_lines.get(line.service_type_id, (0, 0))
            expected = max(served - left, 0)
            if line.continuing != expected:
                found.append(ReportWarning("continuity", _(
                    "%(service)s: %(continuing)d continuing from last month, but last month %(served)d were served and "
                    "%(left)d left, so %(expected)d would continue. Someone who comes back after leaving counts as "
                    "continuing only if they did not leave; explain the difference.", service=line.label,
                    continuing=line.continuing, served=served, left=left, expected=expected)))
    if context.previous is not None and any(context.previous) and not data.beneficiaries and not data.staff_total:
        found.append(ReportWarning("zero_report", _(
            "This report has no beneficiaries and no staff, but the month before had %(served)d beneficiaries and "
            "%(staff)d staff. If the service stopped, say why.", served=context.previous[0], staff=context.previous[1])))
    return found


def _warnings(data: ReportData, context: Context) -> list[ReportWarning]:
    found = []
    served = data.beneficiaries
    if context.capacity and served > context.capacity * CAPACITY_FACTOR:
        found.append(ReportWarning("capacity", _(
            "%(n)d beneficiaries is more than 150%% of the contracted capacity (%(capacity)d a month).",
            n=served, capacity=context.capacity)))
    if context.previous is not None:
        for code, now, before, what in (("change_beneficiaries", served, context.previous[0], _("beneficiaries")),
                                        ("change_staff", data.staff_total, context.previous[1], _("staff"))):
            if before and abs(now - before) > before * CHANGE_LIMIT:
                found.append(ReportWarning(code, _(
                    "The number of %(what)s changed by more than 50%% from the month before (%(before)d → %(now)d).",
                    what=what, before=before, now=now)))
    if served and not data.staff_total:
        found.append(ReportWarning("no_staff", _("%(n)d beneficiaries were served, but no staff are reported.", n=served)))
    return found + _continuity(data, context)


def check(data: ReportData, context: Context) -> Result:
    """Everything a submission must pass (errors) and what it must explain (warnings)."""
    errors = _number_errors(data) + (check_month(context) or check_ended(context))
    if errors:
        return Result(errors=errors)
    result = Result(errors=_sum_errors(data), warnings=_warnings(data, context))
    if result.warnings and not data.explanation.strip():
        result.errors.append(Issue(("explanation",), _(
            "Explain the warnings below before you submit: the reviewer reads your explanation with the report.")))
    return result
