"""Two people saving the same record from the same version: the first save stands, the second is refused
(409) and nothing of it is written — rubrics, award decisions and tranches (agreements: test_ledger.py)."""

from __future__ import annotations

import re
from decimal import Decimal

from portal.models import CallKind
from tests import factories


def _version(page: str) -> str:
    return re.search(r'name="version_id"[^>]*value="(\d+)"|value="(\d+)"[^>]*name="version_id"', page).group(1)


def test_a_rubric_saved_from_an_old_version_is_refused(app, client, world, session, login_as):
    with app.test_request_context():
        call = factories.eoi_call(session, world.users["admin"], kind=CallKind.GRANT, publish=False)
        session.commit()
    login_as("admin")
    url = f"/admin/calls/{call.id}/rubric"
    version = _version(client.get(url).get_data(as_text=True))
    row = {"criteria-0-name_mk": "Потреба", "criteria-0-name_sq": "Nevoja", "criteria-0-name_en": "Need",
           "criteria-0-max_score": "50", "criteria-0-weight": "1", "version_id": version}
    assert client.post(url, data=row).status_code == 302
    stale = client.post(url, data={**row, "criteria-0-max_score": "40"})
    assert stale.status_code == 409
    session.expire_all()
    assert [c.max_score for c in call.criteria] == [Decimal("50.00")]
    fresh = _version(client.get(url).get_data(as_text=True))
    assert fresh != version
    assert client.post(url, data={**row, "criteria-0-max_score": "40", "version_id": fresh}).status_code == 302


def test_a_form_without_its_version_is_refused_too(app, client, world, session, login_as):
    with app.test_request_context():
        call = factories.eoi_call(session, world.users["admin"], kind=CallKind.GRANT, publish=False)
        session.commit()
    login_as("admin")
    response = client.post(f"/admin/calls/{call.id}/rubric", data={
        "criteria-0-name_mk": "Потреба", "criteria-0-name_sq": "Nevoja", "criteria-0-name_en": "Need",
        "criteria-0-max_score": "50", "criteria-0-weight": "1"})
    assert response.status_code == 409
    session.expire_all()
    assert call.criteria == []
