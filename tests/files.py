"""Small real files of each accepted type (and some hostile ones), built in memory."""

from __future__ import annotations

import io
import zipfile

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 17
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 32 + b"\xff\xd9"


def _zip(entries: dict[str, bytes], compression=zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def docx() -> bytes:
    return _zip({"[Content_Types].xml": b"<Types/>", "word/document.xml": b"<w:document/>"})


def xlsx() -> bytes:
    return _zip({"[Content_Types].xml": b"<Types/>", "xl/workbook.xml": b"<workbook/>"})


def odt() -> bytes:
    return _zip({"mimetype": b"application/vnd.oasis.opendocument.text", "content.xml": b"<office/>"},
                compression=zipfile.ZIP_STORED)


def zip_bomb(expanded_mb: int = 150) -> bytes:
    """A DOCX whose one entry expands to `expanded_mb` MB of zeros (compressed to a few hundred KB)."""
    return _zip({"[Content_Types].xml": b"<Types/>", "word/document.xml": b"\0" * (expanded_mb * 1024 * 1024)})


def many_entries(n: int = 1500) -> bytes:
    entries = {"[Content_Types].xml": b"<Types/>", "word/document.xml": b"<w:document/>"}
    entries.update({f"word/media/part{i}.xml": b"x" for i in range(n)})
    return _zip(entries)


def lying_directory(real_mb: int = 200, claimed: int = 100) -> bytes:
    """A DOCX whose zip directory (local header and central directory) says its document part expands
    to `claimed` bytes while its deflated data really expands to `real_mb` MB."""
    import struct

    raw = bytearray(_zip({"[Content_Types].xml": b"<Types/>", "word/document.xml": b"\0" * (real_mb * 1024 * 1024)}))
    target = b"word/document.xml"
    offset = 0
    while (offset := raw.find(b"PK\x03\x04", offset)) != -1:  # local headers: sizes at +18/+22, name at +30
        name_len = struct.unpack_from("<H", raw, offset + 26)[0]
        if raw[offset + 30:offset + 30 + name_len] == target:
            struct.pack_into("<I", raw, offset + 22, claimed)
        offset += 4
    offset = 0
    while (offset := raw.find(b"PK\x01\x02", offset)) != -1:  # central directory: size at +24, name at +46
        name_len = struct.unpack_from("<H", raw, offset + 28)[0]
        if raw[offset + 46:offset + 46 + name_len] == target:
            struct.pack_into("<I", raw, offset + 24, claimed)
        offset += 4
    return bytes(raw)
