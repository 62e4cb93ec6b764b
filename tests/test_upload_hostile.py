"""Hostile uploads: a zip directory that lies about sizes, and what an interrupted upload leaves behind."""

from __future__ import annotations

import io
import os
import time
import zipfile

import pytest
import sqlalchemy as sa

from portal.documents.services import sweep_storage
from portal.documents.storage import get_storage
from portal.models import Document
from tests import files
from tests.conftest import login

pytestmark = pytest.mark.usefixtures("storage_backend")


def test_a_lying_zip_directory_is_refused_after_reading_what_really_comes_out(client, world, session):
    payload = files.lying_directory(real_mb=200, claimed=100)
    info = {i.filename: i.file_size for i in zipfile.ZipFile(io.BytesIO(payload)).infolist()}
    assert info["word/document.xml"] == 100 and len(payload) < 2 * 1024 * 1024  # the directory lies
    login(client, world.users["provider"])
    started = time.perf_counter()
    response = client.post(f"/organisations/{world.orgs['provider'].id}/documents",
                           data={"purpose": "statute", "file": (io.BytesIO(payload), "statut.docx")},
                           content_type="multipart/form-data")
    elapsed = time.perf_counter() - started
    assert response.status_code in (302, 422)
    assert session.scalar(sa.select(sa.func.count()).select_from(Document)) == 0
    page = client.get(f"/organisations/{world.orgs['provider'].id}").get_data(as_text=True)
    assert "statut.docx" not in page
    print(f"lying directory refused in {elapsed:.2f} s")


def test_a_genuine_docx_still_passes_the_decompression_count(client, world, session):
    login(client, world.users["provider"])
    response = client.post(f"/organisations/{world.orgs['provider'].id}/documents",
                           data={"purpose": "statute", "file": (io.BytesIO(files.docx()), "statut.docx")},
                           content_type="multipart/form-data")
    assert response.status_code == 302
    assert session.scalar(sa.select(sa.func.count()).select_from(Document)) == 1


def test_the_sweep_removes_unfinished_and_orphaned_objects_only(app, client, world, session, storage_backend):
    login(client, world.users["provider"])
    client.post(f"/organisations/{world.orgs['provider'].id}/documents",
                data={"purpose": "statute", "file": (io.BytesIO(files.PDF), "statut.pdf")},
                content_type="multipart/form-data")
    [kept] = session.scalars(sa.select(Document)).all()
    with app.app_context():
        storage = get_storage()
        # What a worker killed between storing the bytes and committing the row leaves behind.
        storage.put("organisation/2026/11/orphan", io.BytesIO(b"%PDF-1.4 orphan"), "application/pdf")
        if storage_backend == "local":
            unfinished = storage.root / "organisation" / "2026" / "11" / ".upload-abc123"
            unfinished.write_bytes(b"half an upload")
            old = time.time() - 3 * 3600
            for path in storage.root.rglob("*"):
                if path.is_file():
                    os.utime(path, (old, old))
        # Nothing is younger than the cutoff on S3 (objects are new), so sweep everything older than "now + 1 min".
        minutes = 60 if storage_backend == "local" else -1
        removed = sweep_storage(session, older_than_minutes=minutes)
        assert removed["orphaned"] == 1
        assert removed["unfinished"] == (1 if storage_backend == "local" else 0)
        assert b"".join(storage.open(kept.storage_key)) == files.PDF
        keys = {key for key, _ in storage.stored_before(time.time() + 3600)}
        assert "organisation/2026/11/orphan" not in keys and kept.storage_key in keys


def test_a_workbook_nested_deeper_than_any_spreadsheet_is_refused_before_parsing(app):
    from portal.reports import xlsx_reader

    levels = 50_000
    hostile = files._zip({"[Content_Types].xml": b"<Types/>", "xl/workbook.xml": b"<workbook/>",
                          "xl/worksheets/sheet1.xml": b"<worksheet>" + b"<a>" * levels + b"</a>" * levels + b"</worksheet>"})
    with app.test_request_context():
        with pytest.raises(xlsx_reader.Refused) as caught:
            xlsx_reader.check_package(hostile)
        assert "nested" in caught.value.message or "вгнезд" in caught.value.message
        shallow = files._zip({"[Content_Types].xml": b"<Types/>", "xl/workbook.xml": b"<workbook><sheets/></workbook>",
                              "xl/worksheets/sheet1.xml": b'<worksheet><sheetData><row r="1"><c r="A1"><v>1</v></c>'
                                                          b'</row></sheetData></worksheet>'})
        xlsx_reader.check_package(shallow)  # a real sheet's depth passes
