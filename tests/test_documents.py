"""The document service on both backends: local disk and S3 (moto's server over HTTP)."""

from __future__ import annotations

import hashlib
import io
import os
import socket
import struct
import tempfile
import threading

import pytest
import sqlalchemy as sa

from portal.documents.storage import get_storage
from portal.models import AuditEvent, Document
from tests import factories, files
from tests.conftest import login

pytestmark = pytest.mark.usefixtures("storage_backend")


def upload(client, org_id, content, name, purpose="licence", replaces=None):
    data = {"purpose": purpose, "file": (io.BytesIO(content), name)}
    if replaces:
        data["replaces"] = str(replaces)
    return client.post(f"/organisations/{org_id}/documents", data=data, content_type="multipart/form-data")


def stored(session):
    return session.scalars(sa.select(Document).order_by(Document.id)).all()


def stored_bytes(app, key):
    with app.app_context():
        return b"".join(get_storage().open(key))


def test_round_trip_keeps_bytes_and_checksum(app, client, world, session, storage_backend):
    org = world.orgs["provider"]
    login(client, world.users["provider"])
    response = upload(client, org.id, files.PDF, "Лиценца 2026.pdf")
    assert response.status_code == 302
    [document] = stored(session)
    assert document.sha256 == hashlib.sha256(files.PDF).hexdigest()
    assert document.size == len(files.PDF) and document.content_type == "application/pdf"
    assert document.original_name == "Лиценца 2026.pdf"
    assert "Лиценца" not in document.storage_key and document.storage_key.startswith("organisation/")
    assert stored_bytes(app, document.storage_key) == files.PDF
    download = client.get(f"/documents/{document.id}")
    assert download.status_code == 200
    assert download.data == files.PDF
    assert download.headers["X-Content-Type-Options"] == "nosniff"
    assert download.headers["Content-Disposition"].startswith("attachment;")
    assert "filename*=UTF-8''%D0%9B" in download.headers["Content-Disposition"]
    assert download.mimetype == "application/pdf"
    actions = set(session.scalars(sa.select(AuditEvent.action)))
    assert {"document.uploaded", "document.downloaded"} <= actions


@pytest.mark.parametrize("maker,name,content_type", [
    (lambda: files.PNG, "scan.png", "image/png"),
    (lambda: files.JPEG, "photo.JPG", "image/jpeg"),
    (files.docx, "statut.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
    (files.xlsx, "budzet.xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    (files.odt, "odluka.odt", "application/vnd.oasis.opendocument.text"),
])
def test_accepted_types_are_recognised_from_content(client, world, session, maker, name, content_type):
    login(client, world.users["provider"])
    assert upload(client, world.orgs["provider"].id, maker(), name, purpose="statute").status_code == 302
    assert stored(session)[-1].content_type == content_type


def test_replacing_adds_a_version_and_keeps_the_first(app, client, world, session):
    org = world.orgs["provider"]
    login(client, world.users["provider"])
    upload(client, org.id, files.PDF, "licence.pdf")
    first = stored(session)[0]
    new_pdf = files.PDF + b"% renewed\n"
    assert upload(client, org.id, new_pdf, "licence-2027.pdf", replaces=first.id).status_code == 302
    first_again, second = stored(session)
    assert (second.series_id, second.version, second.purpose) == (first.series_id, 2, "licence")
    assert client.get(f"/documents/{first.id}").data == files.PDF
    assert client.get(f"/documents/{second.id}").data == new_pdf
    page = client.get(f"/organisations/{org.id}").get_data(as_text=True)
    assert "licence-2027.pdf" in page and "licence.pdf" in page


def test_missing_object_gives_a_clear_404(app, client, world, session):
    login(client, world.users["provider"])
    upload(client, world.orgs["provider"].id, files.PDF, "licence.pdf")
    [document] = stored(session)
    with app.app_context():
        get_storage().delete(document.storage_key)
    response = client.get(f"/documents/{document.id}")
    assert response.status_code == 404
    assert "request" in response.get_data(as_text=True).lower() or "<code>" in response.get_data(as_text=True)


def _temp_files():
    folder = tempfile.gettempdir()
    return {name for name in os.listdir(folder)}


def test_oversize_upload_gets_413_and_nothing_is_stored(app, client, world, session, storage_backend, tmp_path):
    app.config.update(MAX_UPLOAD_MB=1, MAX_CONTENT_LENGTH=1024 * 1024 + 64 * 1024)
    login(client, world.users["provider"])
    before = _temp_files()
    big = files.PDF + b"0" * (2 * 1024 * 1024)
    response = upload(client, world.orgs["provider"].id, big, "big.pdf")
    assert response.status_code == 413
    assert "MB" in response.get_data(as_text=True)
    assert stored(session) == []
    assert _temp_files() - before == set()
    if storage_backend == "local":
        assert not any(p.is_file() for p in (tmp_path / "uploads").rglob("*"))


def test_service_limit_applies_even_when_the_request_limit_is_higher(app, client, world, session):
    app.config.update(MAX_UPLOAD_MB=1, MAX_CONTENT_LENGTH=10 * 1024 * 1024)
    login(client, world.users["provider"])
    response = upload(client, world.orgs["provider"].id, files.PDF + b"0" * (1024 * 1024 + 10), "big.pdf")
    assert response.status_code == 413
    assert stored(session) == []


@pytest.mark.parametrize("content,name,expected", [
    (files.PNG, "licence.pdf", "PNG"),            # content contradicts the extension
    (b"MZ\x90\x00 executable", "licence.pdf", "PDF, JPEG"),  # not an accepted type at all
    (files.PDF, "licence.exe", ".pdf"),           # accepted content, forbidden extension
    (b"", "empty.pdf", None),
    (b"PK\x03\x04 not really a zip", "statut.docx", None),
])
def test_wrong_content_is_refused_with_a_clear_message(client, world, session, content, name, expected):
    login(client, world.users["provider"])
    response = upload(client, world.orgs["provider"].id, content, name)
    body = response.get_data(as_text=True)
    assert response.status_code == 422
    assert 'href="#file"' in body
    if expected:
        assert expected in body
    assert stored(session) == []


def test_archive_that_expands_beyond_the_limit_is_refused_unopened(client, world, session):
    login(client, world.users["provider"])
    bomb = files.zip_bomb(150)
    assert len(bomb) < 1024 * 1024
    response = upload(client, world.orgs["provider"].id, bomb, "statut.docx", purpose="statute")
    assert response.status_code == 422
    assert "100 MB" in response.get_data(as_text=True)
    assert stored(session) == []


def test_archive_with_too_many_entries_is_refused(client, world, session):
    login(client, world.users["provider"])
    response = upload(client, world.orgs["provider"].id, files.many_entries(1500), "statut.docx", purpose="statute")
    assert response.status_code == 422
    assert stored(session) == []


def test_hostile_names_never_reach_the_storage_key(client, world, session):
    login(client, world.users["provider"])
    assert upload(client, world.orgs["provider"].id, files.PDF, "../../../../etc/evil\u202efdp.pdf").status_code == 302
    [document] = stored(session)
    assert document.original_name == "evilfdp.pdf"
    assert ".." not in document.storage_key and "evil" not in document.storage_key


def test_another_organisation_cannot_upload_or_download(app, client, world, session):
    login(client, world.users["provider"])
    upload(client, world.orgs["provider"].id, files.PDF, "licence.pdf")
    [document] = stored(session)
    stranger = app.test_client()
    login(stranger, world.users["provider_b"])
    assert stranger.get(f"/documents/{document.id}").status_code == 403
    assert upload(stranger, world.orgs["provider"].id, files.PDF, "x.pdf").status_code == 403
    monitor = app.test_client()
    login(monitor, world.users["monitor"])
    assert monitor.get(f"/documents/{document.id}").status_code == 403
    reviewer = app.test_client()
    login(reviewer, world.users["reviewer"])
    assert reviewer.get(f"/documents/{document.id}").status_code == 200


def test_replacing_another_objects_document_is_refused(app, client, world, session):
    login(client, world.users["provider_b"])
    upload(client, world.orgs["provider_b"].id, files.PDF, "b.pdf")
    [foreign] = stored(session)
    login(client, world.users["provider"])
    response = upload(client, world.orgs["provider"].id, files.PDF, "a.pdf", replaces=foreign.id)
    assert response.status_code == 403
    assert len(stored(session)) == 1


def test_storage_check_command_round_trips_a_probe(app, storage_backend):
    result = app.test_cli_runner().invoke(args=["storage-check"])
    assert result.exit_code == 0, result.output
    assert ("S3 bucket" if storage_backend == "s3" else "local disk") in result.output
    assert "ok" in result.output


class FakeClamd:
    """A minimal clamd speaking INSTREAM on loopback: reports a threat when the EICAR marker is sent."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                data = b""
                assert conn.recv(10) == b"zINSTREAM\0"
                while True:
                    size = struct.unpack("!L", conn.recv(4))[0]
                    if not size:
                        break
                    while size:
                        part = conn.recv(size)
                        data += part
                        size -= len(part)
                verdict = b"stream: Eicar-Test-Signature FOUND\0" if b"EICAR" in data else b"stream: OK\0"
                conn.sendall(verdict)

    def close(self):
        self.sock.close()


def test_virus_scan_when_configured(app, client, world, session):
    clamd = FakeClamd()
    app.config.update(CLAMAV_HOST="127.0.0.1", CLAMAV_PORT=clamd.port)
    try:
        login(client, world.users["provider"])
        assert upload(client, world.orgs["provider"].id, files.PDF, "clean.pdf").status_code == 302
        infected = files.PDF + b"% EICAR-STANDARD-ANTIVIRUS-TEST-FILE\n"
        response = upload(client, world.orgs["provider"].id, infected, "infected.pdf")
        assert response.status_code == 422 and "Eicar" in response.get_data(as_text=True)
        assert len(stored(session)) == 1
    finally:
        clamd.close()
    app.config.update(CLAMAV_PORT=1)  # configured but unreachable: fail closed
    assert upload(client, world.orgs["provider"].id, files.PDF, "again.pdf").status_code == 422


@pytest.mark.parametrize("storage_backend", ["s3"], indirect=True)  # presigned links exist only for S3
def test_presigned_download_is_issued_only_after_the_check_and_lives_60_seconds(app, client, world, session,
                                                                                storage_backend):
    import urllib.parse
    import urllib.request

    app.config["S3_PRESIGNED_DOWNLOADS"] = True
    login(client, world.users["provider"])
    upload(client, world.orgs["provider"].id, files.PDF, "Лиценца.pdf")
    [document] = stored(session)
    response = client.get(f"/documents/{document.id}")
    assert response.status_code == 302
    url = response.headers["Location"]
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
    assert query["X-Amz-Expires"] == ["60"]
    assert "attachment" in query["response-content-disposition"][0]
    with urllib.request.urlopen(url, timeout=10) as fetched:  # noqa: S310 (loopback test server)
        assert fetched.read() == files.PDF
    stranger = app.test_client()
    login(stranger, world.users["provider_b"])
    refused = stranger.get(f"/documents/{document.id}")
    assert refused.status_code == 403 and "Location" not in refused.headers


def test_call_documents_are_public_and_uploaded_by_the_administrator(app, client, world, session):
    with app.test_request_context():
        call = factories.eoi_call(session, world.users["admin"])
        session.commit()
    login(client, world.users["admin"])
    response = client.post(f"/admin/calls/{call.id}/documents", content_type="multipart/form-data",
                           data={"purpose": "call_text", "file": (io.BytesIO(files.PDF), "Текст на повикот.pdf")})
    assert response.status_code == 302
    [document] = stored(session)
    anonymous = app.test_client()
    assert "Текст на повикот.pdf" in anonymous.get(f"/calls/{call.id}").get_data(as_text=True)
    assert anonymous.get(f"/documents/{document.id}").data == files.PDF
    municipality = app.test_client()
    login(municipality, world.users["municipality"])
    refused = municipality.post(f"/admin/calls/{call.id}/documents", content_type="multipart/form-data",
                                data={"purpose": "call_text", "file": (io.BytesIO(files.PDF), "x.pdf")})
    assert refused.status_code == 403
