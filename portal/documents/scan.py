"""Optional virus scan through a ClamAV daemon (clamd's INSTREAM command over TCP)."""

from __future__ import annotations

import socket
import struct
from typing import BinaryIO

CHUNK = 64 * 1024


class ScanUnavailable(Exception):
    pass


def scan(fh: BinaryIO, host: str, port: int, timeout: float = 30.0) -> str | None:
    """Return the name of what was found, or None when the file is clean."""
    fh.seek(0)
    try:
        with socket.create_connection((host, port), timeout=timeout) as conn:
            conn.sendall(b"zINSTREAM\0")
            while chunk := fh.read(CHUNK):
                conn.sendall(struct.pack("!L", len(chunk)) + chunk)
            conn.sendall(struct.pack("!L", 0))
            reply = b""
            while not reply.endswith(b"\0"):
                part = conn.recv(4096)
                if not part:
                    break
                reply += part
    except OSError as exc:
        raise ScanUnavailable(str(exc)) from exc
    text = reply.rstrip(b"\0").decode("utf-8", "replace").strip()
    if text.endswith("OK"):
        return None
    if text.endswith("FOUND"):
        return text.removeprefix("stream:").removesuffix("FOUND").strip()
    raise ScanUnavailable(text or "no answer")
