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


class Multilingual:
    """Mixin for rows named in Macedonian, Albanian and English."""

    name_mk: str
    name_sq: str
    name_en: str

    def name(self, locale: str | None = None) -> str:
        from flask_babel import get_locale

        code = locale or str(get_locale() or "mk")
        value = getattr(self, f"name_{code}", None)
        return value or self.name_mk
