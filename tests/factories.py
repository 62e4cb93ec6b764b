"""Test data builders. Each returns flushed objects in the given session."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import UTC, date, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal.auth.passwords import hash_password
from portal.db import utcnow
from portal.models import LegalForm, Municipality, Organisation, OrgKind, OrgStatus, Role, User
from portal.organisations.services import edb_check_digit

PASSWORD = "correct horse battery staple"
_seq = itertools.count(1)
_hashes: dict[str, str] = {}


def password_hash(password: str) -> str:
    """Hash each test password once per run (argon2 is slow on purpose)."""
    if password not in _hashes:
        _hashes[password] = hash_password(password)
    return _hashes[password]


def valid_edb(seed: int | None = None) -> str:
    n = seed if seed is not None else next(_seq) + 10_000
    stem = f"40{n:010d}"[:12]
    return stem + str(edb_check_digit(stem))


def municipality(session: Session, name_en: str = "Kumanovo") -> Municipality:
    return session.scalar(sa.select(Municipality).where(Municipality.name_en == name_en))


def org(session: Session, kind: OrgKind = OrgKind.PROVIDER, **kw) -> Organisation:
    n = next(_seq)
    defaults: dict = {"kind": kind, "name": kw.pop("name", f"Организација {n}")}
    if kind == OrgKind.PROVIDER:
        today = utcnow().date()
        defaults.update(tax_number=valid_edb(), legal_form=LegalForm.ASSOCIATION, status=OrgStatus.VERIFIED,
                        licence_number=f"L-{n}", licence_valid_from=today - timedelta(days=30),
                        licence_valid_until=today + timedelta(days=700))
    if kind == OrgKind.MUNICIPALITY and "municipality_id" not in kw:
        taken = set(session.scalars(sa.select(Organisation.municipality_id).where(
            Organisation.municipality_id.is_not(None))))
        free = session.scalar(sa.select(Municipality).where(Municipality.id.not_in(taken or {0}))
                              .order_by(Municipality.id))
        defaults["municipality_id"] = free.id
    defaults.update(kw)
    obj = Organisation(**defaults)
    session.add(obj)
    session.flush()
    return obj


def user(session: Session, role: Role, organisation: Organisation, *, email: str | None = None,
         password: str | None = PASSWORD, active: bool = True, language: str = "mk") -> User:
    n = next(_seq)
    obj = User(email=email or f"{role.value}{n}@test.example", full_name=f"Корисник {n}", role=role,
               organisation=organisation, password_hash=password_hash(password) if password else None,
               active=active, preferred_language=language, activated_at=utcnow() if password else None)
    session.add(obj)
    session.flush()
    return obj


@dataclass
class World:
    """One organisation of each kind (two of municipalities and providers) and a user per role."""

    orgs: dict[str, Organisation] = field(default_factory=dict)
    users: dict[str, User] = field(default_factory=dict)

    @classmethod
    def build(cls, session: Session) -> World:
        w = cls()
        w.orgs["ministry"] = org(session, OrgKind.MINISTRY, name="Министерство")
        w.orgs["municipality"] = org(session, OrgKind.MUNICIPALITY, name="Општина А")
        w.orgs["municipality_b"] = org(session, OrgKind.MUNICIPALITY, name="Општина Б")
        w.orgs["provider"] = org(session, OrgKind.PROVIDER, name="Давател А")
        w.orgs["provider_b"] = org(session, OrgKind.PROVIDER, name="Давател Б")
        w.orgs["monitor"] = org(session, OrgKind.MONITOR, name="World Bank")
        for role in Role:
            key = {Role.ADMIN: "ministry", Role.REVIEWER: "ministry", Role.FINANCE: "ministry"}.get(role, role.value)
            w.users[role.value] = user(session, role, w.orgs[key], email=f"{role.value}@test.example")
        w.users["provider_b"] = user(session, Role.PROVIDER, w.orgs["provider_b"], email="provider_b@test.example")
        w.users["municipality_b"] = user(session, Role.MUNICIPALITY, w.orgs["municipality_b"],
                                         email="municipality_b@test.example")
        return w

    def own_org(self, role: str) -> Organisation:
        return self.users[role].organisation if role in self.users else self.orgs["provider"]


def a_date(days: int) -> date:
    return utcnow().date() + timedelta(days=days)


def eoi_call(session, admin, *, opens_days: int = -1, closes_days: int = 30, publish: bool = True, **overrides):
    """A call for expressions of interest created (and published) through the service."""
    from datetime import datetime
    from decimal import Decimal

    from portal.calls import services as calls
    from portal.models import CallKind, CallStatus, ServiceType

    now = datetime.now(UTC).replace(microsecond=0)
    types = session.scalars(sa.select(ServiceType.id).where(ServiceType.code.in_(
        ["home_help_care", "personal_assistance", "day_care"]))).all()
    data = calls.CallData(kind=CallKind.EOI, title_mk="Повик за изразување интерес", title_sq="Thirrje për shprehje interesi",
                          title_en="Call for expressions of interest", description_mk="Опис", description_sq="Përshkrim",
                          description_en="Description", opens_at=now + timedelta(days=opens_days),
                          closes_at=now + timedelta(days=closes_days), allocation_eur=Decimal("3000000.00"),
                          grant_ceiling_eur=None, min_cofinancing_pct=Decimal("5"), service_type_ids=list(types),
                          required_documents=["council_decision"], register_required=False)
    for key, value in overrides.items():
        setattr(data, key, value)
    call = calls.create_call(session, admin, data)
    if publish:
        call.status = CallStatus.PUBLISHED
        call.published_at = now
        session.flush()
    return call


def filled_eoi(session, officer, call, *, submit: bool = True, documents: bool = True):
    """An EOI with every field filled and the call's required documents attached (unless `documents=False`),
    optionally submitted, through the services."""
    from decimal import Decimal

    from portal.eois import services as eois

    eoi = eois.start(session, officer, call)
    home_care = call.service_types[0]
    data = eois.EoiData(needs_assessment="Многу стари лица живеат сами во руралните населби.",
                        target_groups="Стари лица, лица со попреченост", people_in_need=420,
                        cofinancing_eur=Decimal("15000.00"), cofinancing_pct=Decimal("10.00"),
                        coordinator_name=officer.full_name, coordinator_email=officer.email, coordinator_phone="+389 31 000 000",
                        services=[eois.ServiceRow(home_care.id, 60, Decimal("120000.00"), "Здружение „Достоинство“")])
    eois.save(session, officer, eoi, data, eoi.version_id)
    if documents:
        attach_required_documents(session, officer, eoi)
    if submit:
        eois.submit(session, officer, eoi)
    return eoi


def attach_required_documents(session, officer, eoi):
    """A small PDF for every document the EOI's call requires, uploaded through the document service (to a
    temporary directory unless the test chose a storage)."""
    import io
    import tempfile
    from pathlib import Path

    from flask import current_app

    from portal.documents import services as documents
    from tests import files

    present = {d.purpose for d in documents.documents_for(session, "eoi", eoi.id)}
    config = current_app.config
    if config.get("STORAGE_BACKEND") == "local" and not str(config["UPLOAD_DIR"]).startswith(tempfile.gettempdir()):
        use_local_storage(current_app, Path(tempfile.mkdtemp(prefix="portal-test-")))
    for purpose in eoi.call.required_documents or []:
        if purpose not in present:
            documents.upload(session, officer, owner=eoi.organisation, object_type="eoi", object_id=eoi.id,
                             purpose=purpose, stream=io.BytesIO(files.PDF), filename=f"{purpose}.pdf")


# Provider grant applications ------------------------------------------------------------------------

#: The rubric of `grant_call`: (name mk, sq, en, max score, weight). 40×1 + 30×1.5 + 20×0.5 = 95 at most.
GRANT_RUBRIC = (("Потреба", "Nevoja", "Need", "40", "1"),
                ("Квалитет", "Cilësia", "Quality", "30", "1.5"),
                ("Одржливост", "Qëndrueshmëria", "Sustainability", "20", "0.5"))

_new_eoi_call = eoi_call  # the builders below take a parameter of the same name


def use_local_storage(app, directory) -> None:
    """Store uploaded documents in `directory` (a test's tmp_path) on the local disk. Set
    `app.extensions["storage"] = None` again when the test ends."""
    app.extensions["storage"] = None
    app.config.update(STORAGE_BACKEND="local", UPLOAD_DIR=directory)


def accepted_eoi(session, officer, admin, eoi_call):
    """A submitted expression of interest of the officer's municipality, accepted by `admin`."""
    from portal.eois import services as eois

    eoi = filled_eoi(session, officer, eoi_call)
    eois.decide(session, admin, eoi, True, "Добро образложена потреба.")
    return eoi


def grant_call(session, admin, eoi_call, *, chair: object = "new", rubric=GRANT_RUBRIC, reviewers_required: int = 2,
               discrepancy_pct=None, endorsement_closes_at=None, funds_per_user: bool = False,
               checklist: list[str] | tuple = (), publish: bool = True, **overrides):
    """A call for provider grant applications linked to `eoi_call`, created through the services: a
    200,000 EUR ceiling, 10 % minimum co-financing, a 1,000,000 EUR allocation, a work plan required,
    the three-criterion `GRANT_RUBRIC`, two reviewers per application and a committee chair, then
    published. `chair="new"` makes a new ministry reviewer the chair (see `chair_of`); pass a user,
    or None for no chair. Other keyword arguments override the call's data (as in `eoi_call`)."""
    from decimal import Decimal

    from portal.calls import services as calls
    from portal.models import CallKind, CallStatus, Role

    values = dict(kind=CallKind.GRANT, linked_call_id=eoi_call.id, title_mk="Повик за грантови",
                  title_sq="Thirrje për grante", title_en="Call for grant applications",
                  allocation_eur=Decimal("1000000.00"), grant_ceiling_eur=Decimal("200000.00"),
                  min_cofinancing_pct=Decimal("10"), required_documents=["work_plan"])
    values.update(overrides)
    call = _new_eoi_call(session, admin, publish=False, **values)
    calls.set_rubric(session, admin, call, [
        calls.CriterionData(mk, sq, en, "", Decimal(maximum), Decimal(weight)) for mk, sq, en, maximum, weight in rubric])
    if chair == "new":
        chair = user(session, Role.REVIEWER, admin.organisation)
    calls.set_review_settings(session, admin, call, calls.ReviewSettings(
        endorsement_closes_at=endorsement_closes_at, funds_per_user=funds_per_user, checklist=list(checklist),
        reviewers_required=reviewers_required,
        discrepancy_pct=Decimal("20") if discrepancy_pct is None else Decimal(discrepancy_pct),
        chair_id=chair.id if chair is not None else None), call.version_id)
    if publish:
        calls.change_status(session, admin, call, CallStatus.PUBLISHED)
    return call


def chair_of(session, call) -> User | None:
    return session.get(User, call.chair_id) if call.chair_id else None


def application_data(session, call, **overrides):
    """Complete application data that meets `grant_call`'s rules: staff 5 × 700 × 24 months = 84,000 and
    training 1 × 6,000 = 6,000, so 90,000 EUR in total; 10,000 co-financing (11.11 %), 80,000 requested;
    six staff, four certified, two planned hires from the first hard-to-employ group."""
    from decimal import Decimal

    from portal.applications import services as applications
    from portal.models import HardToEmployCategory

    category = session.scalar(sa.select(HardToEmployCategory.id).order_by(HardToEmployCategory.sort_order).limit(1))
    values = dict(title="Помош и нега во домот", summary="Услуга за 40 стари лица во руралните населби.",
                  service_type_ids=[call.service_types[0].id], beneficiaries_per_month=40,
                  start_month=a_date(60), duration_months=24, certified_caregivers=4,
                  cofinancing_eur=Decimal("10000.00"),
                  positions=[applications.PositionRow("Негувател/ка", 5), applications.PositionRow("Координатор/ка", 1)],
                  hires=[applications.HireRow(category, 2)],
                  lines=[applications.LineRow("staff", "Плати", Decimal("5"), Decimal("700.00"), 24),
                         applications.LineRow("training", "Обука за негуватели", Decimal("1"), Decimal("6000.00"), 1)])
    values.update(overrides)
    return applications.ApplicationData(**values)


def upload_application_document(session, provider_user, application, purpose: str = "work_plan"):
    """A small PDF attached to the application (storage must be configured: see `use_local_storage`)."""
    import io

    from portal.documents import services as documents
    from tests import files

    return documents.upload(session, provider_user, owner=application.organisation, object_type="application",
                            object_id=application.id, purpose=purpose, stream=io.BytesIO(files.PDF),
                            filename=f"{purpose}.pdf")


def filled_application(session, provider_user, call, municipality_org, *, submit: bool = True, **overrides):
    """A provider's application naming `municipality_org` (an Organisation or its id), started, saved
    with complete data (`application_data`, with `overrides`), with every required document uploaded,
    and submitted unless `submit=False`. Runs inside a request context, with storage configured."""
    from portal.applications import services as applications

    municipality_id = getattr(municipality_org, "id", municipality_org)
    application = applications.start(session, provider_user, call, municipality_id)
    applications.save(session, provider_user, application, application_data(session, call, **overrides),
                      application.version_id)
    for purpose in call.required_documents or []:
        upload_application_document(session, provider_user, application, purpose)
    if submit:
        applications.submit(session, provider_user, application)
    return application


# Monthly reports -----------------------------------------------------------------------------------------

def months_ago(n: int) -> date:
    """The first day of the month `n` months before the current one (Skopje time)."""
    from portal.reports.services import first_of, today_in_skopje

    month = first_of(today_in_skopje())
    for _ in range(n):
        month = date(month.year - (month.month == 1), (month.month - 2) % 12 + 1, 1)
    return month


def signed_grant(session, admin, provider_org, municipality_org, *, start=None, months: int = 24, capacity: int = 40,
                 amount: str = "40000.00", service_codes=("home_help_care",), number: str | None = None,
                 tranches=None):
    """An awarded application (written directly; the award workflow is tested elsewhere) with its signed
    agreement: from `start` (default: three months ago) for `months` months, an advance and a tranche on the
    reports through month 3 unless `tranches` (rows of (amount, reports through)) says otherwise."""
    from decimal import Decimal

    from portal.grants import services as grants
    from portal.models import Application, ApplicationStatus, AwardDecision, CallKind, Outcome, ServiceType

    start = start or months_ago(3)
    eoi = eoi_call(session, admin, allocation_eur=Decimal("0.00"))
    call = eoi_call(session, admin, kind=CallKind.GRANT, linked_call_id=eoi.id, allocation_eur=Decimal(amount))
    n = next(_seq)
    application = Application(call_id=call.id, organisation_id=provider_org.id, municipality_org_id=municipality_org.id,
                              status=ApplicationStatus.AWARDED, reference=f"{call.reference}-{n}",
                              beneficiaries_per_month=capacity)
    application.service_types = list(session.scalars(sa.select(ServiceType).where(ServiceType.code.in_(service_codes))
                                                     .order_by(ServiceType.sort_order)))
    session.add(application)
    session.flush()
    session.add(AwardDecision(application_id=application.id, outcome=Outcome.AWARD, amount_eur=Decimal(amount),
                              reasons="Доделено.", decided_by_id=admin.id))
    session.flush()
    rows = tranches or [("12000.00", 0), (str(Decimal(amount) - Decimal("12000.00")), 3)]
    return grants.create_agreement(session, admin, application, number or f"GA-{n:04d}", grants.Terms(
        signature_date=start - timedelta(days=20), start_date=start, end_date=grants.add_months(start, months) - timedelta(days=1),
        committed_eur=Decimal(amount),
        tranches=[grants.TrancheRow(grants.add_months(start, 3 * i), Decimal(a), r) for i, (a, r) in enumerate(rows)]))


def report_data(session, agreement, *, served: int = 30, staff: int = 8, hires=None, **overrides):
    """Figures that pass every rule: `served` beneficiaries of the grant's first service type (split evenly
    enough, all of them new this month, so each new breakdown equals the served one), `staff` staff (one man), and
    `hires` {category code: count} from hard-to-employ groups (all new, all women)."""
    from portal.models import HardToEmployCategory
    from portal.reports import services as reports
    from portal.reports.validation import HireFigures, ServiceFigures

    female = served // 2 + served % 2
    young, adult, middle = served // 10, served // 5, served // 3
    disabled = served // 4
    services = [ServiceFigures(service_type_id=t.id, label=t.name_en, total=served if i == 0 else 0,
                               female=female if i == 0 else 0, male=served - female if i == 0 else 0,
                               age_0_17=young if i == 0 else 0, age_18_64=adult if i == 0 else 0,
                               age_65_79=middle if i == 0 else 0, age_80_plus=served - young - adult - middle if i == 0 else 0,
                               with_disability=disabled if i == 0 else 0,
                               without_disability=served - disabled if i == 0 else 0,
                               new_this_month=served if i == 0 else 0,
                               new_female=female if i == 0 else 0, new_male=served - female if i == 0 else 0,
                               new_age_0_17=young if i == 0 else 0, new_age_18_64=adult if i == 0 else 0,
                               new_age_65_79=middle if i == 0 else 0,
                               new_age_80_plus=served - young - adult - middle if i == 0 else 0,
                               new_with_disability=disabled if i == 0 else 0,
                               new_without_disability=served - disabled if i == 0 else 0,
                               continuing=0, left_this_month=0, service_hours=served * 20 if i == 0 else 0)
                for i, t in enumerate(agreement.application.service_types)]
    categories = {c.code: c for c in session.scalars(sa.select(HardToEmployCategory))}
    hire_rows = [HireFigures(category_id=categories[code].id, label=categories[code].name_en, total=count, female=count,
                             new_this_month=count, new_female=count, continuing=0) for code, count in (hires or {}).items()]
    data = reports.ReportData(services=services, hires=hire_rows, staff_total=staff, staff_female=max(staff - 1, 0),
                              staff_male=min(staff, 1), certified_caregivers=max(staff - 2, 0))
    for key, value in overrides.items():
        setattr(data, key, value)
    return data


def _explain_continuity(session, agreement, month, data) -> None:
    """The figures of `report_data` count everyone as new each month; after an accepted month the continuity rule
    asks why, so such a report carries an explanation (tests of the rule give their own figures)."""
    from portal.reports import services as reports

    context = reports.submission_context(session, agreement, month)
    if context.previous_lines is not None and not data.explanation:
        data.explanation = "Тест: секој месец нови корисници."


def report(session, provider_user, agreement, month, *, submit: bool = True, accept_by=None, data=None, **figures):
    """A monthly report started, saved with `data` (default `report_data(**figures)`), submitted unless
    `submit=False`, and accepted by `accept_by` when given — all through the services."""
    from portal.reports import services as reports

    report_ = reports.start(session, provider_user, agreement, month)
    if data is None:
        data = report_data(session, agreement, **figures)
        _explain_continuity(session, agreement, month, data)
    reports.save(session, provider_user, report_, data, report_.newest.edit_version)
    if submit:
        reports.submit(session, provider_user, report_)
    if accept_by is not None:
        reports.accept(session, accept_by, report_)
    return report_
