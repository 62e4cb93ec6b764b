"""`make bench`, hostile uploads: how fast each is refused and what it costs in memory.

Measured, reported, never asserted. Each file goes through the real upload route of a signed-in
provider (local disk storage, embedded SQLite)."""

from __future__ import annotations

import io
import resource
import tempfile
import time
import tracemalloc
import zipfile
from pathlib import Path

from alembic import command

from config import TestingConfig
from portal import create_app
from portal.cli import alembic_config
from tests import files


def nested_zips(depth: int = 6, width: int = 8) -> bytes:
    """A DOCX whose media folder holds zips of zips (the 42.zip shape): small outside, huge if each level
    were opened — the portal never opens the inner ones, it only counts the bytes of the outer members."""
    inner = files._zip({"zeros.bin": b"\0" * (4 * 1024 * 1024)})
    for _ in range(depth):
        inner = files._zip({f"layer{i}.zip": inner for i in range(width)}, compression=zipfile.ZIP_STORED)
    return files._zip({"[Content_Types].xml": b"<Types/>", "word/document.xml": b"<w:document/>",
                       "word/media/archive.zip": inner}, compression=zipfile.ZIP_STORED)


def deep_xml(levels: int = 200_000) -> bytes:
    """A DOCX whose document part nests 200,000 elements (it is never parsed; its bytes are counted)."""
    return files._zip({"[Content_Types].xml": b"<Types/>",
                       "word/document.xml": b"<a>" * levels + b"</a>" * levels})


CASES = {
    "lying zip directory (100 B claimed, 200 MB inside)": lambda: files.lying_directory(200, 100),
    "zip bomb (150 MB of zeros, declared honestly)": lambda: files.zip_bomb(150),
    "nested zips (42.zip shape)": nested_zips,
    "deeply nested XML (200,000 levels)": deep_xml,
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
        print(f"  process peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
        app.extensions["db_engine"].dispose()


if __name__ == "__main__":
    main()
