"""Where document bytes live: the local disk (the embedded default) or any S3-compatible store
through boto3. Both backends speak the same small interface; keys are always server-generated."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, Protocol
from urllib.parse import quote

from flask import Flask, current_app


class StorageMissing(Exception):
    """The object is not in the store (deleted outside the portal, or never written)."""


class Storage(Protocol):
    description: str

    def put(self, key: str, fileobj: BinaryIO, content_type: str) -> None: ...

    def open(self, key: str) -> Iterator[bytes]: ...

    def delete(self, key: str) -> None: ...

    def presigned_url(self, key: str, filename: str, content_type: str, expires: int = 60) -> str | None: ...


CHUNK = 64 * 1024


class LocalStorage:
    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()
        self.description = f"local disk at {self.root}"

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if self.root not in path.parents:
            raise ValueError("storage key escapes the storage folder")
        return path

    def put(self, key: str, fileobj: BinaryIO, content_type: str) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as out:
                fileobj.seek(0)
                while chunk := fileobj.read(CHUNK):
                    out.write(chunk)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def open(self, key: str) -> Iterator[bytes]:
        path = self._path(key)
        if not path.is_file():
            raise StorageMissing(key)
        fh = path.open("rb")

        def chunks() -> Iterator[bytes]:
            with fh:
                while chunk := fh.read(CHUNK):
                    yield chunk

        return chunks()

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def presigned_url(self, key: str, filename: str, content_type: str, expires: int = 60) -> str | None:
        return None

    def stored_before(self, cutoff: float) -> Iterator[tuple[str, bool]]:
        """(key, is_unfinished) of every object written before `cutoff` (a POSIX time); unfinished
        ones are the temporary files of writes that never completed (a worker killed mid-upload)."""
        if not self.root.is_dir():
            return
        for path in self.root.rglob("*"):
            if path.is_file() and path.stat().st_mtime < cutoff:
                yield path.relative_to(self.root).as_posix(), path.name.startswith(".upload-")


def content_disposition(filename: str) -> str:
    ascii_name = filename.encode("ascii", "replace").decode().replace("?", "_").replace('"', "_")
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}"


class S3Storage:
    """Any S3-compatible store (AWS S3, MinIO, Ceph) through boto3; credentials come from the
    usual boto3 sources (environment, shared files, instance roles)."""

    def __init__(self, bucket: str, endpoint_url: str = "", region: str = "eu-central-1") -> None:
        import boto3
        from botocore.config import Config as BotoConfig

        options = {"signature_version": "s3v4"}
        if endpoint_url:
            options["s3"] = {"addressing_style": "path"}
        self.bucket = bucket
        self.client = boto3.client("s3", endpoint_url=endpoint_url or None, region_name=region,
                                   config=BotoConfig(**options, retries={"max_attempts": 3}))
        self.description = f"S3 bucket {bucket}" + (f" at {endpoint_url}" if endpoint_url else "")

    def put(self, key: str, fileobj: BinaryIO, content_type: str) -> None:
        fileobj.seek(0)
        self.client.upload_fileobj(fileobj, self.bucket, key, ExtraArgs={"ContentType": content_type})

    def open(self, key: str) -> Iterator[bytes]:
        from botocore.exceptions import ClientError

        try:
            body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in {"NoSuchKey", "404", "NotFound"}:
                raise StorageMissing(key) from None
            raise

        def chunks() -> Iterator[bytes]:
            try:
                yield from body.iter_chunks(CHUNK)
            finally:
                body.close()

        return chunks()

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=key)

    def stored_before(self, cutoff: float) -> Iterator[tuple[str, bool]]:
        """Objects written before `cutoff`; unfinished multipart uploads are aborted on the way."""
        from datetime import UTC, datetime

        limit = datetime.fromtimestamp(cutoff, UTC)
        for page in self.client.get_paginator("list_multipart_uploads").paginate(Bucket=self.bucket):
            for upload in page.get("Uploads", []):
                if upload["Initiated"] < limit:
                    self.client.abort_multipart_upload(Bucket=self.bucket, Key=upload["Key"], UploadId=upload["UploadId"])
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket):
            for item in page.get("Contents", []):
                if item["LastModified"] < limit:
                    yield item["Key"], False

    def presigned_url(self, key: str, filename: str, content_type: str, expires: int = 60) -> str | None:
        return self.client.generate_presigned_url(
            "get_object",
            Params={"Bucket": self.bucket, "Key": key, "ResponseContentType": content_type,
                    "ResponseContentDisposition": content_disposition(filename)},
            ExpiresIn=min(int(expires), 60),
        )


def build_storage(config: dict) -> Storage:
    backend = (config.get("STORAGE_BACKEND") or "local").lower()
    if backend == "s3":
        if not config.get("S3_BUCKET"):
            raise RuntimeError("STORAGE_BACKEND=s3 needs S3_BUCKET")
        return S3Storage(config["S3_BUCKET"], config.get("S3_ENDPOINT_URL", ""), config.get("S3_REGION", "eu-central-1"))
    if backend == "local":
        return LocalStorage(Path(config["UPLOAD_DIR"]))
    raise RuntimeError(f"STORAGE_BACKEND must be 'local' or 's3', not {backend!r}")


def init_storage(app: Flask) -> None:
    app.extensions["storage"] = None  # built on first use, so a missing bucket never stops the app


def get_storage() -> Storage:
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    storage = app.extensions.get("storage")
    if storage is None:
        storage = build_storage(app.config)
        app.extensions["storage"] = storage
    return storage
