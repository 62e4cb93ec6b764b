"""Demo concerns for the grievance redress mechanism (issue 17), in Macedonian (one in Albanian), built through the
services as they happened: one resolved and accepted, one closed but not accepted, one overdue (not acknowledged
in time), one just received, and one sensitive (safeguarding), assigned to a named handler and escalated."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal import clock
from portal.models import GrantAgreement, Grievance, Municipality, User


def demo_grievances(session: Session) -> int:
    from portal.demo import _at
    from portal.grievances import services

    if session.scalar(sa.select(Grievance.id).limit(1)) is not None:
        return 0
    users = {u.email.split("@")[0]: u for u in session.scalars(sa.select(User).where(User.email.like("%@demo.example")))}
    grants = {a.number: a for a in session.scalars(sa.select(GrantAgreement))}
    places = dict(session.execute(sa.select(Municipality.name_en, Municipality.id)).all())
    dostoinstvo, soncev = grants.get("SSIP-GA-2026-001"), grants.get("SSIP-GA-2026-002")
    admin, reviewer, provider = users.get("admin"), users.get("reviewer"), users.get("provider")
    if not (dostoinstvo and soncev and admin and reviewer and provider):
        return 0
    now = clock.now()

    def received(days_ago: float, **data):
        with _at(now - timedelta(days=days_ago)):
            case, _secret = services.submit(session, services.IntakeData(**data), "seed-demo")
        return case

    def step(days_ago: float, action, *args):
        with _at(now - timedelta(days=days_ago)):
            return action(session, *args)

    # 1. Home care in Kumanovo: visits cut without notice — acknowledged, put to the provider, resolved, accepted.
    home = received(40, category="service_quality", municipality_id=dostoinstvo.application.municipality_org.municipality_id,
                    agreement_id=dostoinstvo.id, about="", anonymous=True, description=(
                        "Мојот татко (82 години) добива помош во домот. Од почетокот на месецот негувателката доаѓа "
                        "само два пати неделно наместо секој работен ден, а никој не ни кажа зошто."))
    step(37, services.acknowledge, reviewer, home, "Ви благодариме. Ќе проверим со давателот на услугата и ќе ви "
                                                   "одговориме во рок од 30 дена.")
    step(36, services.ask_party, reviewer, home, "Објаснете зошто е намален бројот на посети кај корисникот од "
                                                 "населбата Карпош (Куманово) и доставете го распоредот за месецот.")
    step(33, services.party_answers, provider, home, "Една негувателка беше на боледување две недели. Од понеделник "
                                                     "распоредот е вратен; ангажиравме замена.")
    step(30, services.complainant_writes, home, "Потврдувам, негувателката пак доаѓа секој ден. Благодарам.")
    step(29, services.close, reviewer, home, "Давателот го врати распоредот (секој работен ден) и ангажира замена за "
                                             "време на отсуства. Ќе го следиме во месечните извештаи.", True)
    # 2. Day care in Bitola: a named complaint about a caregiver's conduct, not acknowledged in time (overdue).
    received(12, category="staff_conduct", municipality_id=soncev.application.municipality_org.municipality_id,
             agreement_id=soncev.id, about="", anonymous=False, contact_name="Снежана Трајкова",
             contact_email="snezana.trajkova@demo.example", contact_phone="+389 75 214 380", description=(
                 "Во дневниот центар еден од вработените викаше на мојата ќерка (лице со попреченост) пред другите "
                 "корисници. Сакам некој да разговара со нас."))
    # 3. Tetovo, in Albanian: refused a place without an explanation — just received.
    received(2, category="access", municipality_id=places.get("Tetovo"), agreement_id=None,
             about="Qendra ditore në Tetovë", anonymous=True, language="sq", description=(
                 "Nëna ime u refuzua për qendrën ditore pa asnjë shpjegim me shkrim. Si mund të ankohemi?"))
    # 4. Kumanovo, safeguarding (sensitive): named handler only, escalated to the Centre for Social Work.
    guarded = received(9, category="safeguarding", municipality_id=dostoinstvo.application.municipality_org.municipality_id,
                       agreement_id=dostoinstvo.id, about="", anonymous=True, description=(
                           "Сосед сум на постара жена која добива помош во домот. Неколку пати слушнав викање и ја видов "
                           "со модринки на рацете. Се плашам за неа."))
    step(9, services.assign, admin, guarded, reviewer.id)
    step(8.9, services.acknowledge, reviewer, guarded, "Ви благодариме што пријавивте. Случајот го води определено лице.")
    step(8.8, services.escalate, reviewer, guarded, "Известен е Центарот за социјална работа Куманово за итна посета; "
                                                    "случајот не се споделува со давателот.")
    # 5. Gostivar, personal data: closed, the complainant did not accept the outcome.
    data = received(50, category="data_protection", municipality_id=places.get("Gostivar"), agreement_id=None, about="",
                    anonymous=False, contact_name="Илир Рамадани", contact_phone="+389 71 555 019", description=(
                        "На огласната табла во општината беше објавен список со имиња на корисници на услугата."))
    step(48, services.acknowledge, reviewer, data, "")
    step(45, services.add_note, reviewer, data, "Проверено со општината: списокот е симнат истиот ден.")
    step(44, services.close, reviewer, data, "Општината го симна списокот и ги потсети вработените на правилата за "
                                             "заштита на личните податоци.", False)
    session.flush()
    return 5
