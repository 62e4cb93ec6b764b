"""The register's keyed hash: the only thing kept of a personal number.

`person_key(number)` is HMAC-SHA256 under the register's secrets, chained oldest first: under key 1 it is
HMAC(K1, number); after re-keying to key 2 it is HMAC(K2, HMAC(K1, number)), and so on. Re-keying therefore needs no
personal number: `rekey` applies the newer secrets to the stored hashes, and a hash computed for a new entry comes
out equal to the re-keyed hash of the same person — duplicates stay detectable. A copy of the database with an old
secret is useless without the newer ones.

The secrets come from the configuration (REGISTER_HMAC_KEY, the current one; REGISTER_HMAC_OLD_KEYS, the earlier
ones, oldest first), never from the database: the database holds only each version's fingerprint (a keyed hash of
a fixed text), so that a secret changed without re-keying is refused before it splits one person in two."""

from __future__ import annotations

import hashlib
import hmac

import sqlalchemy as sa
from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from portal import audit
from portal.errors import DomainError
from portal.models import RegisterEpisode, RegisterKey, User

FINGERPRINT_TEXT = b"portal service-user register: key fingerprint"


class KeyMismatch(DomainError):
    status = 409
    default_message = _l("The register's key does not match the one its entries were made with. The ministry's "
                         "administrator must restore the key or re-key the register before entries can be added.")


def configured_keys() -> tuple[bytes, ...]:
    """The secrets, oldest first; the last one is current (its version is the length)."""
    old = tuple(current_app.config.get("REGISTER_HMAC_OLD_KEYS") or ())
    current = current_app.config.get("REGISTER_HMAC_KEY") or ""
    if not current:
        raise KeyMismatch(_l("The register's key is not configured (REGISTER_HMAC_KEY)."))
    return tuple(k.encode("utf-8") for k in (*old, current))


def current_version() -> int:
    return len(configured_keys())


def _step(key: bytes, value: bytes) -> str:
    return hmac.new(key, value, hashlib.sha256).hexdigest()


def fingerprint(key: bytes) -> str:
    return _step(key, FINGERPRINT_TEXT)


def check_keys(session: Session) -> int:
    """The configured secrets agree with the fingerprints on record (recording new versions): the current version."""
    keys = configured_keys()
    known = {row.version: row.fingerprint for row in session.scalars(sa.select(RegisterKey))}
    for version, key in enumerate(keys, start=1):
        mark = fingerprint(key)
        if version in known and not hmac.compare_digest(known[version], mark):
            raise KeyMismatch()
        if version not in known:
            session.add(RegisterKey(version=version, fingerprint=mark))
    if known and max(known) > len(keys):
        raise KeyMismatch()  # an older configuration than the register's
    session.flush()
    return len(keys)


def person_key(session: Session, number: str) -> tuple[str, int]:
    """The keyed hash of a (validated) personal number under every configured secret, and its key version."""
    check_keys(session)
    keys = configured_keys()
    value = _step(keys[0], number.encode("ascii"))
    for key in keys[1:]:
        value = _step(key, value.encode("ascii"))
    return value, len(keys)


def keyer(session: Session):
    """`person_key` for many numbers (a bulk import, `seed-stress`): the secrets are checked once, then each number
    costs its HMACs alone. Returns number → (key, key version)."""
    version = check_keys(session)
    keys = configured_keys()

    def key(number: str) -> tuple[str, int]:
        return advance(_step(keys[0], number.encode("ascii")), 1, keys), version

    return key


def advance(value: str, from_version: int, keys: tuple[bytes, ...]) -> str:
    """A hash made under `from_version`, carried to the last of `keys`."""
    for key in keys[from_version:]:
        value = _step(key, value.encode("ascii"))
    return value


def rekey(session: Session, actor: User | None = None) -> dict[str, int]:
    """Carry every stored hash to the current key version; audited (counts only)."""
    target = check_keys(session)
    keys = configured_keys()
    rows = session.execute(sa.select(RegisterEpisode.id, RegisterEpisode.person_key, RegisterEpisode.key_version)
                           .where(RegisterEpisode.key_version < target)).all()
    if rows:
        table = RegisterEpisode.__table__
        statement = (sa.update(table).where(table.c.id == sa.bindparam("episode"))
                     .values(person_key=sa.bindparam("new_key"), key_version=target))
        session.execute(statement, [{"episode": row.id, "new_key": advance(row.person_key, row.key_version, keys)}
                                    for row in rows])
    result = {"key_version": target, "episodes_rekeyed": len(rows)}
    audit.record(session, actor, "register.rekeyed", object_type="register_key", object_id=target, after=result,
                 actor_email="" if actor is not None else "cli")
    return result
