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
                          required_documents=["council_decision"])
    for key, value in overrides.items():
        setattr(data, key, value)
    call = calls.create_call(session, admin, data)
    if publish:
        call.status = CallStatus.PUBLISHED
        call.published_at = now
        session.flush()
    return call


def filled_eoi(session, officer, call, *, submit: bool = True):
    """An EOI with every field filled, optionally submitted, through the services."""
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
    if submit:
        eois.submit(session, officer, eoi)
    return eoi
