"""Column helpers shared by the model modules."""

from __future__ import annotations

import enum

import sqlalchemy as sa


def enum_column(enum_cls: type[enum.Enum], name: str) -> sa.Enum:
    """A portable enum: VARCHAR holding the value, with a CHECK constraint."""
    return sa.Enum(
        enum_cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=32,
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
    )


class Localized:
    """Mixin for content written in Macedonian (required), Albanian and English (optional): `field_mk`,
    `field_sq`, `field_en` columns. An empty translation falls back to the Macedonian text, and
    `shown_in_macedonian` tells the page to say so."""

    def localized(self, field: str, locale: str | None = None) -> str:
        return getattr(self, f"{field}_{_locale(locale)}", None) or getattr(self, f"{field}_mk", None) or ""

    def shown_in_macedonian(self, field: str, locale: str | None = None) -> bool:
        code = _locale(locale)
        return code != "mk" and not getattr(self, f"{field}_{code}", None) and bool(getattr(self, f"{field}_mk", None))


def _locale(locale: str | None) -> str:
    if locale:
        return locale
    from flask_babel import get_locale

    return str(get_locale() or "mk")


class Multilingual(Localized):
    """Mixin for rows named in Macedonian, Albanian and English."""

    name_mk: str
    name_sq: str
    name_en: str

    def name(self, locale: str | None = None) -> str:
        from flask_babel import get_locale

        code = locale or str(get_locale() or "mk")
        value = getattr(self, f"name_{code}", None)
        return value or self.name_mk
