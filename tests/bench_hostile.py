"""`make bench`, hostile uploads: how fast each is refused and what it costs in memory.

Measured, reported, never asserted. Each file goes through the real upload route of a signed-in
provider (local disk storage, embedded SQLite)."""

from __future__ import annotations

import io
import resource
import tempfile
import time
import tracemalloc
from pathlib import Path

from alembic import command

from config import TestingConfig
from portal import create_app
from portal.cli import alembic_config
from tests import files


def nested_zips(depth: int = 5, width: int = 10) -> bytes:
    """A DOCX whose media folder holds zips of zips (the 42.zip shape: 10^5 × 1 MB if every level were
    opened). The portal never opens an inner archive; it counts the bytes of the outer members, which stay
    small, so such a file is only as big as it looks (accepted if under the limits, like any DOCX with media)."""
    inner = files._zip({"zeros.bin": b"\0" * (1024 * 1024)})
    for _ in range(depth):
        inner = files._zip({f"layer{i}.zip": inner for i in range(width)})
    return files._zip({"[Content_Types].xml": b"<Types/>", "word/document.xml": b"<w:document/>",
                       "word/media/archive.zip": inner})


def deep_workbook(levels: int = 200_000) -> bytes:
    """A bulk-report workbook whose sheet nests 200,000 elements."""
    return files._zip({"[Content_Types].xml": b"<Types/>", "xl/workbook.xml": b"<workbook/>",
                       "xl/worksheets/sheet1.xml": b"<worksheet>" + b"<a>" * levels + b"</a>" * levels + b"</worksheet>"})


CASES = {
    "lying zip directory (100 B claimed, 200 MB inside)": lambda: files.lying_directory(200, 100),
    "zip bomb (150 MB of zeros, declared honestly)": lambda: files.zip_bomb(150),
    "nested zips (42.zip shape, inner archives never opened)": nested_zips,
    "1,500 zip entries": lambda: files.many_entries(1500),
}


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench-hostile.db"
        app = create_app(TestingConfig(DATABASE_URL=url, UPLOAD_DIR=Path(tmp) / "uploads"))
        with app.app_context():
            command.upgrade(alembic_config(url), "head")
            from portal.db import db
            from portal.demo import seed_demo
            from portal.reference.services import load_reference_data

            load_reference_data(db)
            seed_demo(db)
            db.commit()
            import sqlalchemy as sa

            from portal.models import User

            provider = db.scalar(sa.select(User).where(User.email == "provider@demo.example"))
            org_id = provider.organisation_id
            db.close()
        client = app.test_client()
        from tests.conftest import login

        login(client, provider)
        print("hostile uploads (refused through POST /organisations/<id>/documents; never asserted):")
        for label, make in CASES.items():
            payload = make()
            tracemalloc.start()
            started = time.perf_counter()
            response = client.post(f"/organisations/{org_id}/documents",
                                   data={"purpose": "statute", "file": (io.BytesIO(payload), "file.docx")},
                                   content_type="multipart/form-data", follow_redirects=True)
            elapsed = time.perf_counter() - started
            _current, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            refused = "file.docx" not in response.get_data(as_text=True) or response.status_code >= 400
            print(f"  {label:<52} {len(payload) / 1024:>8.0f} KiB  {'refused' if refused else 'ACCEPTED'} in "
                  f"{elapsed * 1000:>6.0f} ms, peak Python allocations {peak / 2**20:.1f} MiB")
        from portal.reports import xlsx_reader

        payload = deep_workbook()
        with app.test_request_context():
            tracemalloc.start()
            started = time.perf_counter()
            try:
                xlsx_reader.check_package(payload)
                outcome = "ACCEPTED"
            except xlsx_reader.Refused:
                outcome = "refused"
            elapsed = time.perf_counter() - started
            _current, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
        print(f"  {'deeply nested workbook (200,000 levels, bulk upload)':<52} {len(payload) / 1024:>8.0f} KiB  {outcome} in "
              f"{elapsed * 1000:>6.0f} ms, peak Python allocations {peak / 2**20:.1f} MiB")
        print(f"  process peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
        app.extensions["db_engine"].dispose()


if __name__ == "__main__":
    main()
