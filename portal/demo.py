"""Demo data: a believable start of the programme, in Macedonian. Only `flask seed-demo` loads it.

Idempotent: each record is looked up by a natural key first, so a second run adds nothing.
"""

from __future__ import annotations

from contextlib import contextmanager
from datetime import date, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal import audit
from portal.auth.passwords import hash_password
from portal.db import utcnow
from portal.models import LegalForm, Municipality, Organisation, OrgKind, OrgStatus, Outcome, Role, User
from portal.organisations.services import edb_check_digit

DEMO_PASSWORD = "demo-portal-2026"
MINISTRY_NAME = "Министерство за социјална политика, демографија и млади"


def edb(first12: str) -> str:
    return first12 + str(edb_check_digit(first12))


# (English name of the local government, organisation name)
MUNICIPALITIES = [
    ("Kumanovo", "Општина Куманово"),
    ("Tetovo", "Општина Тетово"),
    ("Bitola", "Општина Битола"),
    ("Štip", "Општина Штип"),
    ("Strumica", "Општина Струмица"),
    ("Ohrid", "Општина Охрид"),
    ("Gostivar", "Општина Гостивар"),
    ("Veles", "Општина Велес"),
]

# (tax number stem, name, legal form, status, city, licence start offset days, licence length days)
PROVIDERS = [
    ("403001234567", "Здружение за помош и нега „Достоинство“ Куманово", LegalForm.ASSOCIATION,
     OrgStatus.VERIFIED, "Куманово", -400, 1800),
    ("405000987654", "„Сончев зрак“ ДООЕЛ Битола", LegalForm.COMPANY, OrgStatus.VERIFIED, "Битола", -420, 1800),
    ("402800112233", "Shoqata „Bashkë“ / Здружение „Заедно“ Тетово", LegalForm.ASSOCIATION, OrgStatus.PENDING,
     "Тетово", -30, 1800),
    ("403100445566", "Центар за дневен престој „Надеж“ Штип", LegalForm.ASSOCIATION, OrgStatus.PENDING,
     "Штип", -1790, 1830),
    ("404200556677", "Здружение „Мост“ Гостивар", LegalForm.ASSOCIATION, OrgStatus.VERIFIED, "Гостивар", -500, 1800),
]

CONTACTS = {"403001234567": "Билјана Јованова", "405000987654": "Горан Талевски",
            "402800112233": "Merita Rexhepi", "403100445566": "Снежана Митева", "404200556677": "Илир Адеми"}

# (email, full name, role, organisation key)
USERS = [
    ("admin@demo.example", "Марија Николовска", Role.ADMIN, "ministry"),
    ("reviewer@demo.example", "Александар Стојанов", Role.REVIEWER, "ministry"),
    ("reviewer2@demo.example", "Ивана Коцевска", Role.REVIEWER, "ministry"),
    ("finance@demo.example", "Елена Трајковска", Role.FINANCE, "ministry"),
    # The second pair of eyes: approves what finance@ requests (four eyes can be tried end to end).
    ("finance2@demo.example", "Никола Андоновски", Role.FINANCE, "ministry"),
    ("kumanovo@demo.example", "Драган Ристовски", Role.MUNICIPALITY, "Kumanovo"),
    ("tetovo@demo.example", "Arben Memeti", Role.MUNICIPALITY, "Tetovo"),
    ("bitola@demo.example", "Весна Петровска", Role.MUNICIPALITY, "Bitola"),
    ("provider@demo.example", "Билјана Јованова", Role.PROVIDER, "403001234567"),
    ("soncev.zrak@demo.example", "Горан Талевски", Role.PROVIDER, "405000987654"),
    ("bashke@demo.example", "Merita Rexhepi", Role.PROVIDER, "402800112233"),
    ("most@demo.example", "Илир Адеми", Role.PROVIDER, "404200556677"),
    ("gostivar@demo.example", "Фатмир Идризи", Role.MUNICIPALITY, "Gostivar"),
    ("veles@demo.example", "Јована Петкова", Role.MUNICIPALITY, "Veles"),
    ("monitor@demo.example", "Sarah Collins", Role.MONITOR, "monitor"),
]


def seed_demo(session: Session) -> int:
    created = 0
    today = utcnow().date()
    orgs: dict[str, Organisation] = {}

    def get_or_add(key: str, lookup: sa.Select, factory) -> Organisation:
        nonlocal created
        org = session.scalar(lookup)
        if org is None:
            org = factory()
            session.add(org)
            session.flush()
            audit.record(session, None, "organisation.created", org, actor_email="seed-demo")
            created += 1
        orgs[key] = org
        return org

    get_or_add("ministry", sa.select(Organisation).where(Organisation.kind == OrgKind.MINISTRY).order_by(Organisation.id),
               lambda: Organisation(kind=OrgKind.MINISTRY, name=MINISTRY_NAME, city="Скопје",
                                    address="ул. Даме Груев бр. 14", contact_email="info@demo.example"))
    get_or_add("monitor", sa.select(Organisation).where(Organisation.kind == OrgKind.MONITOR).order_by(Organisation.id),
               lambda: Organisation(kind=OrgKind.MONITOR, name="World Bank — SSIP task team (P162246)",
                                    city="Skopje", contact_email="ssip-monitoring@demo.example"))
    municipality_ids = dict(session.execute(sa.select(Municipality.name_en, Municipality.id)).all())
    for code, name in MUNICIPALITIES:
        mid = municipality_ids[code]
        get_or_add(code, sa.select(Organisation).where(Organisation.municipality_id == mid),
                   lambda mid=mid, name=name: Organisation(kind=OrgKind.MUNICIPALITY, name=name, municipality_id=mid,
                                                           contact_email="socijalna@demo.example"))
    for stem, name, form, status, city, start, length in PROVIDERS:
        tax = edb(stem)
        valid_from = today + timedelta(days=start)
        get_or_add(stem, sa.select(Organisation).where(Organisation.tax_number == tax),
                   lambda tax=tax, name=name, form=form, status=status, city=city, valid_from=valid_from, length=length, stem=stem:
                   Organisation(kind=OrgKind.PROVIDER, name=name, tax_number=tax, legal_form=form, status=status,
                                licence_number=f"УП-{tax[-5:]}/{valid_from.year}", licence_valid_from=valid_from,
                                licence_valid_until=valid_from + timedelta(days=length), city=city,
                                address="ул. Македонија бр. 1", contact_email="kontakt@demo.example",
                                contact_person=CONTACTS[stem],
                                contact_phone="+389 70 000 000",
                                verified_at=utcnow() if status == OrgStatus.VERIFIED else None))
    password_hash = None
    existing = set(session.scalars(sa.select(User.email).where(User.email.like("%@demo.example"))))
    for email, full_name, role, key in USERS:
        if email in existing:
            continue
        password_hash = password_hash or hash_password(DEMO_PASSWORD)
        user = User(email=email, full_name=full_name, role=role, organisation=orgs[key],
                    password_hash=password_hash, activated_at=utcnow(),
                    preferred_language="sq" if email in ("tetovo@demo.example", "bashke@demo.example") else
                    "en" if role == Role.MONITOR else "mk")
        session.add(user)
        session.flush()
        audit.record(session, None, "user.created", user, actor_email="seed-demo")
        created += 1
    created += _demo_documents(session, orgs)
    created += _demo_calls(session, orgs)
    created += _demo_grants(session, orgs)
    from portal.demo_reports import demo_reports

    created += demo_reports(session)
    from portal.demo_registers import demo_registers

    created += demo_registers(session)
    from portal.demo_grievances import demo_grievances

    created += demo_grievances(session)
    from portal.demo_finance import demo_finance_reports

    created += demo_finance_reports(session)
    # One invitation still waiting, so the admin's list shows that state too.
    if session.scalar(sa.select(User.id).where(User.email == "nova.sorabotnicka@demo.example")) is None:
        session.add(User(email="nova.sorabotnicka@demo.example", full_name="Ана Димитрова", role=Role.REVIEWER,
                         organisation=orgs["ministry"]))
        created += 1
    session.flush()
    return created


def demo_pdf(title: str, lines: list[str]) -> bytes:
    """A small, valid one-page PDF (ASCII text) standing in for a scanned document."""
    text = " ".join(f"({line.replace('(', '[').replace(')', ']')}) Tj T*" for line in [title, "", *lines])
    stream = f"BT /F1 12 Tf 14 TL 72 760 Td {text} ET".encode("latin-1", "replace")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 4 0 R >> >> "
        b"/Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    out += f"trailer << /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def _demo_documents(session: Session, orgs: dict[str, Organisation]) -> int:
    """The verified providers' licences and statutes, uploaded through the document service."""
    import io

    from portal.documents import services as documents

    added = 0
    for stem in ("403001234567", "405000987654", "404200556677"):
        org = orgs[stem]
        if documents.documents_for(session, "organisation", org.id):
            continue
        uploader = session.scalar(sa.select(User).where(User.organisation_id == org.id).order_by(User.id))
        for purpose, title in (("licence", "Licence for providing social services"), ("statute", "Statute")):
            content = demo_pdf(title, [f"Organisation tax number: {org.tax_number}",
                                       f"Licence: {org.licence_number}", "Demo document - not a real licence."])
            documents.upload(session, uploader, owner=org, object_type="organisation", object_id=org.id,
                             purpose=purpose, stream=io.BytesIO(content), filename=f"{purpose}-{org.tax_number}.pdf")
            added += 1
    return added


EOI_STORY = [
    # (municipality, officer email, officer name, people in need, [(service code, per month, annual cost, partners)],
    #  co-financing EUR, %, needs, target groups, what happens next)
    ("Bitola", "bitola@demo.example", None, 540, [("home_help_care", 80, "168000.00", "„Сончев зрак“ ДООЕЛ Битола"),
                                                  ("day_centre_ageing", 40, "96000.00", "")],
     "26400.00", "10.00", "Над 3.000 лица постари од 80 години живеат сами; листата на чекање во ЦСР Битола е 210 лица.",
     "Стари лица што живеат сами, лица со попреченост", "accepted"),
    ("Tetovo", "tetovo@demo.example", None, 610, [("personal_assistance", 45, "118000.00", "Shoqata „Bashkë“"),
                                                  ("home_help_care", 70, "139000.00", "")],
     "25700.00", "10.00", "Во руралните населби на Тетово нема услуги во домот; 610 лица се проценети како потребни.",
     "Лица со попреченост, стари лица, ромски семејства", "clarification"),
    ("Štip", "stip@demo.example", "Кирил Ангелов", 260, [("day_centre_disability", 30, "84000.00", "")],
     "12600.00", "15.00", "Дневниот центар за лица со попреченост би опслужувал и Карбинци.", "Млади лица со попреченост",
     "submitted"),
    ("Strumica", "strumica@demo.example", "Македонка Стојанова", 330, [("home_help_care", 50, "102000.00", "")],
     "10200.00", "10.00", "Проценка на ЦСР Струмица: 330 лица со потреба од помош во домот.", "Стари лица", "submitted"),
    ("Ohrid", "ohrid@demo.example", "Никола Јанкуловски", 180, [("small_group_home", 6, "72000.00", "")],
     "14400.00", "20.00", "Деинституционализација: шест лица од институција ќе живеат во мал групен дом.",
     "Лица со интелектуална попреченост", "submitted"),
]


def _council_decision(session: Session, officer: User, eoi, municipality: str) -> None:
    """The council decision every demo EOI carries before it is submitted (the call requires it)."""
    import io

    from portal.documents import services as documents

    content = demo_pdf("Council decision", [f"Municipality of {municipality}", "Demo document - not a real decision."])
    documents.upload(session, officer, owner=eoi.organisation, object_type="eoi", object_id=eoi.id,
                     purpose="council_decision", stream=io.BytesIO(content), filename="одлука-на-советот.pdf")


def _demo_calls(session: Session, orgs: dict[str, Organisation]) -> int:
    """An open call for expressions of interest with municipalities at every step, and a draft
    grant call with its rubric. Kumanovo has not started yet (the guided tour starts there)."""
    from decimal import Decimal

    from portal.calls import services as calls
    from portal.eois import services as eois
    from portal.models import Call, CallKind, CallStatus, ServiceType

    if session.scalar(sa.select(Call.id).limit(1)) is not None:
        return 0
    admin = session.scalar(sa.select(User).where(User.email == "admin@demo.example"))
    reviewer = session.scalar(sa.select(User).where(User.email == "reviewer@demo.example"))
    types = {t.code: t.id for t in session.scalars(sa.select(ServiceType))}
    now = utcnow().replace(second=0, microsecond=0)
    eoi_call = calls.create_call(session, admin, calls.CallData(
        kind=CallKind.EOI,
        title_mk="Јавен повик до општините за изразување интерес за развој на социјални услуги во заедницата",
        title_sq="Thirrje publike për komunat për shprehje interesi për zhvillimin e shërbimeve sociale në komunitet",
        title_en="Public call to municipalities for expressions of interest in developing community social services",
        description_mk="Министерството ги повикува сите 80 општини и Градот Скопје да изразат интерес за развој на "
                       "услуги во заедницата, финансирани од Проектот за подобрување на социјалните услуги.\n\n"
                       "Потребна е одлука на Советот на општината.",
        description_sq="Ministria fton të gjitha 80 komunat dhe Qytetin e Shkupit të shprehin interes për zhvillimin e "
                       "shërbimeve në komunitet.\n\nKërkohet vendim i Këshillit të komunës.",
        description_en="The ministry invites all 80 municipalities and the City of Skopje to express interest in "
                       "developing community services funded by the Social Services Improvement Project.\n\n"
                       "A municipal council decision is required.",
        opens_at=now - timedelta(days=30), closes_at=now + timedelta(days=21), allocation_eur=Decimal("3000000.00"),
        grant_ceiling_eur=None, min_cofinancing_pct=Decimal("5.00"),
        service_type_ids=[types[c] for c in ("home_help_care", "personal_assistance", "day_centre_disability",
                                             "day_centre_ageing", "day_care", "small_group_home", "supported_living")],
        required_documents=["council_decision"]))
    eoi_call.status, eoi_call.published_at = CallStatus.PUBLISHED, now - timedelta(days=30)
    added = 1
    municipality_ids = dict(session.execute(sa.select(Municipality.name_en, Municipality.id)).all())
    for (name_en, email, new_name, people, rows, cof_eur, cof_pct, needs, groups, outcome) in EOI_STORY:
        org = session.scalar(sa.select(Organisation).where(Organisation.municipality_id == municipality_ids[name_en]))
        officer = session.scalar(sa.select(User).where(User.email == email))
        if officer is None:
            officer = User(email=email, full_name=new_name, role=Role.MUNICIPALITY, organisation=org,
                           password_hash=hash_password(DEMO_PASSWORD), activated_at=utcnow())
            session.add(officer)
            session.flush()
            added += 1
        eoi = eois.start(session, officer, eoi_call)
        eois.save(session, officer, eoi, eois.EoiData(
            needs_assessment=needs, target_groups=groups, people_in_need=people, cofinancing_eur=Decimal(cof_eur),
            cofinancing_pct=Decimal(cof_pct), coordinator_name=officer.full_name, coordinator_email=officer.email,
            coordinator_phone="+389 2 000 0000",
            services=[eois.ServiceRow(types[code], per_month, Decimal(cost), partners)
                      for code, per_month, cost, partners in rows]), eoi.version_id)
        _council_decision(session, officer, eoi, name_en)
        eois.submit(session, officer, eoi)
        if outcome == "accepted":
            eois.decide(session, reviewer, eoi, True, "Јасно образложена потреба, обезбедено кофинансирање и одлука на Советот.")
        elif outcome == "clarification":
            eois.request_clarification(session, reviewer, eoi, "Приложената одлука на Советот е нацрт без потпис: "
                                       "приложете ја усвоената одлука и појаснете го износот на кофинансирањето.",
                                       ["documents", "cofinancing_eur"],
                                       now + timedelta(days=10))
        added += 1
    grant_call = calls.create_call(session, admin, calls.CallData(
        kind=CallKind.GRANT, title_mk="Повик за даватели на услуги: помош и нега во домот и лична асистенција",
        title_sq="Thirrje për ofruesit e shërbimeve: ndihmë dhe kujdes në shtëpi dhe asistencë personale",
        title_en="Call for service providers: home help and care, and personal assistance",
        description_mk="Грантови за воспоставување и водење на услуги во општините чиј интерес е прифатен.",
        description_sq="Grante për ngritjen dhe drejtimin e shërbimeve në komunat interesi i të cilave u pranua.",
        description_en="Grants to set up and run services in municipalities whose expression of interest was accepted.",
        opens_at=now - timedelta(days=5), closes_at=now + timedelta(days=40), allocation_eur=Decimal("5000000.00"),
        grant_ceiling_eur=Decimal("400000.00"), min_cofinancing_pct=Decimal("10.00"),
        service_type_ids=[types["home_help_care"], types["personal_assistance"]], linked_call_id=eoi_call.id,
        required_documents=["work_plan"]))
    grant_call.status, grant_call.published_at = CallStatus.PUBLISHED, now - timedelta(days=5)
    calls.set_rubric(session, admin, grant_call, [
        calls.CriterionData("Потреба и целна група", "Nevoja dhe grupi i synuar", "Need and target group",
                            "Колку добро е докажана потребата", Decimal("25"), Decimal("1")),
        calls.CriterionData("Квалитет на услугата", "Cilësia e shërbimit", "Quality of the service",
                            "Стандарди, супервизија, план за обука", Decimal("30"), Decimal("1")),
        calls.CriterionData("Вработување на тешко вработливи лица", "Punësimi i personave të vështirë për punësim",
                            "Employment of hard-to-employ people", "", Decimal("25"), Decimal("1")),
        calls.CriterionData("Одржливост и кофинансирање", "Qëndrueshmëria dhe bashkëfinancimi",
                            "Sustainability and co-financing", "", Decimal("20"), Decimal("1")),
    ])
    return added + 1


#: How much further back than its first version the pilot round lies, so that its grants have months of reports.
PILOT_SHIFT_DAYS = 150


def demo_date(days: int) -> date:
    return utcnow().date() + timedelta(days=days)


@contextmanager
def _at(when):
    """Seed a past step as it happened: the services read the time from `clock.now`."""
    from portal import clock

    original = clock.now
    clock.now = lambda: when
    try:
        yield
    finally:
        clock.now = original


def _demo_grants(session: Session, orgs: dict[str, Organisation]) -> int:
    """The pilot round, already decided: a closed call for expressions of interest (Kumanovo, Gostivar and
    Veles accepted), a closed grant call with four applications (two awarded, one of them after the chair
    moderated a discrepancy; one on the reserve list below the funding line; one ineligible), and a draft
    for the open call that Сончев зрак is still preparing."""
    import io
    from decimal import Decimal

    from portal.applications import review
    from portal.applications import services as apps
    from portal.calls import services as calls
    from portal.documents import services as documents
    from portal.eois import services as eois
    from portal.models import Application, Call, CallKind, CallStatus, HardToEmployCategory, ServiceType

    if session.scalar(sa.select(Application.id).limit(1)) is not None:
        return 0
    users = {u.email.split("@")[0]: u for u in session.scalars(sa.select(User).where(User.email.like("%@demo.example")))}
    admin, chair, second = users["admin"], users["reviewer"], users["reviewer2"]
    types = {t.code: t.id for t in session.scalars(sa.select(ServiceType))}
    groups = {g.code: g.id for g in session.scalars(sa.select(HardToEmployCategory))}
    now = utcnow().replace(second=0, microsecond=0)
    day = timedelta(days=1)

    def ago(days: int):
        """The pilot round's calendar, counted back from now: agreements signed about eight months ago."""
        return now - (days + PILOT_SHIFT_DAYS) * day
    added = 0
    with _at(ago(220)):
        pilot_eoi = calls.create_call(session, admin, calls.CallData(
            kind=CallKind.EOI, title_mk="Пилот круг: изразување интерес на општините за помош и нега во домот",
            title_sq="Raundi pilot: shprehje interesi e komunave për ndihmë dhe kujdes në shtëpi",
            title_en="Pilot round: municipalities' expressions of interest in home help and care",
            description_mk="Пилот круг за три општини.", description_sq="Raund pilot për tri komuna.",
            description_en="Pilot round for three municipalities.", opens_at=ago(215), closes_at=ago(185),
            allocation_eur=Decimal("0.00"), grant_ceiling_eur=None, min_cofinancing_pct=Decimal("5.00"),
            service_type_ids=[types["home_help_care"], types["personal_assistance"]], required_documents=[]))
        pilot_eoi.status, pilot_eoi.published_at = CallStatus.PUBLISHED, ago(215)
        pilot = calls.create_call(session, admin, calls.CallData(
            kind=CallKind.GRANT, title_mk="Пилот круг: грантови за помош и нега во домот и лична асистенција",
            title_sq="Raundi pilot: grante për ndihmë dhe kujdes në shtëpi dhe asistencë personale",
            title_en="Pilot round: grants for home help and care, and personal assistance",
            description_mk="Грантови за даватели на услуги во општините од пилот кругот.",
            description_sq="Grante për ofruesit e shërbimeve në komunat e raundit pilot.",
            description_en="Grants for service providers in the pilot municipalities.",
            opens_at=ago(170), closes_at=ago(130), allocation_eur=Decimal("460000.00"),
            grant_ceiling_eur=Decimal("320000.00"), min_cofinancing_pct=Decimal("10.00"),
            service_type_ids=[types["home_help_care"], types["personal_assistance"]], linked_call_id=pilot_eoi.id,
            required_documents=["work_plan"], report_evidence=["timesheet"], register_required=False))
        pilot.status, pilot.published_at = CallStatus.PUBLISHED, ago(170)
        calls.set_rubric(session, admin, pilot, [
            calls.CriterionData("Потреба и целна група", "Nevoja dhe grupi i synuar", "Need and target group",
                                "Колку добро е докажана потребата", Decimal("25"), Decimal("1")),
            calls.CriterionData("Квалитет на услугата", "Cilësia e shërbimit", "Quality of the service",
                                "Стандарди, супервизија, план за обука", Decimal("30"), Decimal("1")),
            calls.CriterionData("Вработување на тешко вработливи лица", "Punësimi i personave të vështirë për punësim",
                                "Employment of hard-to-employ people", "", Decimal("25"), Decimal("1")),
            calls.CriterionData("Одржливост и кофинансирање", "Qëndrueshmëria dhe bashkëfinancimi",
                                "Sustainability and co-financing", "", Decimal("20"), Decimal("1")),
        ])
        calls.set_review_settings(session, admin, pilot, calls.ReviewSettings(
            endorsement_closes_at=ago(115), funds_per_user=True, checklist=[], reviewers_required=2,
            discrepancy_pct=Decimal("20"), chair_id=chair.id), pilot.version_id)
        added += 2
    for municipality, people in (("Kumanovo", 390), ("Gostivar", 450), ("Veles", 280)):
        officer = session.scalar(sa.select(User).where(User.organisation_id == orgs[municipality].id))
        with _at(ago(200)):
            eoi = eois.start(session, officer, pilot_eoi)
            eois.save(session, officer, eoi, eois.EoiData(
                needs_assessment="Стари лица што живеат сами во руралните населби немаат пристап до помош во домот.",
                target_groups="Стари лица, лица со попреченост", people_in_need=people,
                cofinancing_eur=Decimal("12000.00"), cofinancing_pct=Decimal("10.00"),
                coordinator_name=officer.full_name, coordinator_email=officer.email, coordinator_phone="+389 2 000 0000",
                services=[eois.ServiceRow(types["home_help_care"], people // 6, Decimal("120000.00"), "")]),
                eoi.version_id)
            eois.submit(session, officer, eoi)
        with _at(ago(180)):
            eois.decide(session, chair, eoi, True, "Потребата е докажана; општината обезбедува кофинансирање.")
        added += 1
    pilot_eoi.status = CallStatus.DECIDED

    def work_plan(owner: Organisation, application: Application, uploader: User) -> None:
        content = demo_pdf("Work plan", [f"Application {application.id}", "Demo document - not a real work plan."])
        documents.upload(session, uploader, owner=owner, object_type="application", object_id=application.id,
                         purpose="work_plan", stream=io.BytesIO(content), filename="работен-план.pdf")

    def application(provider_key: str, uploader: str, municipality: str, title: str, summary: str, users_per_month: int,
                    price: str, staff: list[tuple[str, int]], hires: dict[str, int], cofinancing: str,
                    service: str = "home_help_care", submit: bool = True, also: tuple[str, ...] = (),
                    salary: str | None = None) -> Application:
        provider, user = orgs[provider_key], users[uploader]
        with _at(ago(150)):
            app = apps.start(session, user, pilot, orgs[municipality].id)
            apps.save(session, user, app, apps.ApplicationData(
                title=title, summary=summary, service_type_ids=[types[service], *[types[t] for t in also]],
                beneficiaries_per_month=users_per_month,
                start_month=ago(-20).date().replace(day=1), duration_months=24,
                certified_caregivers=sum(n for _t, n in staff) - 2,
                cofinancing_eur=Decimal(cofinancing), positions=[apps.PositionRow(t, n) for t, n in staff],
                hires=[apps.HireRow(groups[code], n) for code, n in hires.items() if code in groups],
                lines=[apps.LineRow("per_user", "Цена на услугата по корисник месечно", Decimal(users_per_month),
                                    Decimal(price), 24),
                       apps.LineRow("training", "Обука и сертификација на негувателки", Decimal("1"),
                                    Decimal("6500.00"), 1),
                       apps.LineRow("equipment", "Возило за теренска работа", Decimal("1"), Decimal("14000.00"), 1)]
                      + ([apps.LineRow("staff", "Плата на координаторката", Decimal("1"), Decimal(salary), 24)]
                         if salary else [])),
                app.version_id)
            work_plan(provider, app, user)
            if submit:
                apps.submit(session, user, app)
        return app

    dostoinstvo = application(
        "403001234567", "provider", "Kumanovo", "Помош и нега во домот за стари лица во руралниот дел на Куманово",
        "Две мобилни тимови ќе посетуваат 60 корисници во 14 села, пет дена во неделата; за неколку корисници со "
        "попреченост и лична асистенција.", 60, "105.00",
        [("Негувателка", 10), ("Координаторка", 1), ("Социјален работник", 1)],
        {"long_term_unemployed": 4, "roma": 2, "over_50": 3}, "20000.00", also=("personal_assistance",),
        salary="400.00")  # a staff line: its financial reports are entered per month (issue 18)
    soncev = application(
        "405000987654", "soncev.zrak", "Veles", "Лична асистенција за лица со попреченост во Велес",
        "Лични асистенти за 40 лица со попреченост, со супервизија и дежурен телефон.", 40, "290.00",
        [("Личен асистент", 14), ("Супервизор", 1), ("Административен работник", 1)],
        {"disability": 2, "long_term_unemployed": 5}, "30000.00", service="personal_assistance")
    most = application(
        "404200556677", "most", "Gostivar", "Помош во домот во Гостивар и околните села",
        "Услуга на македонски и албански јазик за 50 стари лица и лица со попреченост.", 50, "95.00",
        [("Негувателка", 8), ("Координатор", 1), ("Возач", 1)], {"youth": 3, "gma_recipient": 2}, "15000.00")
    late = application(
        "403001234567", "provider", "Veles", "Помош и нега во домот во Велес",
        "Проширување на услугата од Куманово во Велес.", 30, "110.00",
        [("Негувателка", 6), ("Координаторка", 1)], {"long_term_unemployed": 2}, "11000.00")
    added += 4
    # The municipalities endorse; the reviewers screen, declare and score; the chair moderates; the admin decides.
    with _at(ago(125)):
        for app, officer, reason in ((dostoinstvo, "kumanovo", "Услугата е во согласност со нашата проценка на потребите."),
                                     (soncev, "veles", ""), (most, "gostivar", "Поддржуваме; партнер е и ЦСР Гостивар."),
                                     (late, "veles", "")):
            apps.endorse(session, users[officer], app, True, reason)
        for app in (dostoinstvo, soncev, most):
            review.screen(session, chair, app, {item: True for item in review.checklist(pilot)}, "")
        review.screen(session, chair, late, {item: item != "licence_valid" for item in review.checklist(pilot)},
                      "Лиценцата на давателот не ја покрива општина Велес; потребна е нова лиценца од Министерството.")
    scores = {dostoinstvo.id: ([22, 26, 21, 15], [20, 25, 22, 16]), soncev.id: ([24, 27, 20, 17], [15, 16, 10, 9]),
              most.id: ([18, 22, 17, 12], [19, 20, 18, 13])}
    rubric = pilot.criteria
    with _at(ago(110)):
        for app in (dostoinstvo, soncev, most):
            for reviewer, sheet in zip((chair, second), scores[app.id], strict=True):
                assignment = review.assign(session, admin, app, reviewer)
                review.declare(session, reviewer, assignment, False, "")
                review.submit_scores(session, reviewer, assignment, {
                    c.id: review.ScoreInput(Decimal(v), "Образложено во записникот од комисијата.")
                    for c, v in zip(rubric, sheet, strict=True)})
        review.moderate(session, chair, soncev, "74", "По разговор во комисијата: вториот оценувач го усогласи "
                        "мислењето за планот за супервизија.")
    with _at(ago(100)):
        review.decide(session, admin, dostoinstvo, Outcome.AWARD, dostoinstvo.requested_eur,
                      "Услугата почнува најдоцна во рок од 5 месеци од потпишувањето.", "Највисоко рангирана апликација.")
        review.decide(session, admin, soncev, Outcome.AWARD, Decimal("250000.00"),
                      "Супервизијата на личните асистенти се спроведува од првиот месец.",
                      "Втора на ранг-листата по модерацијата; износот е намален за опремата што не е неопходна.")
        review.decide(session, admin, most, Outcome.RESERVE, None, "",
                      "Квалитетна апликација, но бараниот износ не се вклопува во преостанатиот буџет на повикот.")
    pilot.status = CallStatus.DECIDED
    # Both awards are signed; Достоинство's advance has been paid, Сончев зрак's is waiting for approval.
    from portal.grants import services as grants

    finance = users["finance"]
    for number, app, paid in (("SSIP-GA-2026-001", dostoinstvo, True), ("SSIP-GA-2026-002", soncev, False)):
        award = grants.award_of(session, app)
        signed = (ago(90)).date()
        start = (ago(75)).date().replace(day=1)
        advance = (award.amount_eur * Decimal("0.30")).quantize(Decimal("0.01"))
        rest = award.amount_eur - advance
        third = (rest / 3).quantize(Decimal("0.01"))
        schedule = [grants.TrancheRow(start, advance, 0), grants.TrancheRow(grants.add_months(start, 6), third, 6),
                    grants.TrancheRow(grants.add_months(start, 12), third, 12),
                    grants.TrancheRow(grants.add_months(start, 18), rest - 2 * third, 18)]
        if paid:  # Достоинство's second tranche also waits for money (issue 18): its first quarter's financial
            # report accepted and 60 % of the advance spent — which the demo's accepted first quarter meets (≈ 86 %).
            schedule[1].finance_period, schedule[1].min_spent_pct = 1, Decimal("60.00")
        with _at(ago(90)):
            agreement = grants.create_agreement(session, finance, app, number, grants.Terms(
                signature_date=signed, start_date=start, end_date=grants.add_months(start, 24),
                committed_eur=award.amount_eur, tranches=schedule))
            grants.request_release(session, finance, agreement.tranches[0])
        if paid:
            with _at(ago(85)):
                grants.approve_release(session, admin, agreement.tranches[0])
                grants.mark_paid(session, finance, agreement.tranches[0], (ago(85)).date(), "MK07 2100 0000 4411")
        added += 1
    # The open call: Сончев зрак is preparing a draft for Bitola.
    current = session.scalar(sa.select(Call).where(Call.kind == CallKind.GRANT, Call.id != pilot.id))
    if current is not None and apps.eligible_municipalities(session, current):
        draft = apps.start(session, users["soncev.zrak"], current, orgs["Bitola"].id)
        apps.save(session, users["soncev.zrak"], draft, apps.ApplicationData(
            title="Помош и нега во домот во Битола", summary="Нацрт: 80 корисници во градот и 12 села.",
            service_type_ids=[types["home_help_care"]], beneficiaries_per_month=80, duration_months=36,
            cofinancing_eur=Decimal("40000.00"), positions=[apps.PositionRow("Негувателка", 12)],
            lines=[apps.LineRow("staff", "Плати на негувателки", Decimal("12"), Decimal("620.00"), 36)]), draft.version_id)
        added += 1
    session.flush()
    return added
