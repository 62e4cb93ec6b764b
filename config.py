"""Configuration, read only from environment variables, with safe defaults.

`create_app()` picks a class by `PORTAL_ENV` (production unless told otherwise, so a
forgotten variable never serves the development defaults to the public).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent

INSECURE_KEYS = {"", "change-me", "changeme", "secret", "dev", "development"}
#: The register's key in development and tests: public, so never accepted in production.
DEV_REGISTER_KEY = "development-register-key-not-secret-never-use-in-production"


def _bool(value: str | None, default: bool) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _int(value: str | None, default: int) -> int:
    if value is None or value.strip() == "":
        return default
    return int(value)


class Config:
    """Settings shared by every environment; values come from `os.environ`."""

    ENV_NAME = "base"
    DEBUG = False
    TESTING = False

    def __init__(self, **overrides: object) -> None:
        env = os.environ
        self.INSTANCE_DIR = Path(env.get("PORTAL_INSTANCE_DIR", str(BASE_DIR / "instance")))
        self.SECRET_KEY = env.get("SECRET_KEY", "")
        self.DATABASE_URL = env.get("DATABASE_URL") or f"sqlite:///{self.INSTANCE_DIR / 'portal.db'}"
        self.PORTAL_BASE_URL = env.get("PORTAL_BASE_URL", "http://127.0.0.1:5000").rstrip("/")
        self.PORTAL_AGENCY_NAME = env.get("PORTAL_AGENCY_NAME", "")

        # Mail: an SMTP server, or (empty MAIL_SERVER) messages are written to the log.
        self.MAIL_SERVER = env.get("MAIL_SERVER", "")
        self.MAIL_PORT = _int(env.get("MAIL_PORT"), 25)
        self.MAIL_USERNAME = env.get("MAIL_USERNAME", "")
        self.MAIL_PASSWORD = env.get("MAIL_PASSWORD", "")
        self.MAIL_USE_TLS = _bool(env.get("MAIL_USE_TLS"), False)
        self.MAIL_USE_SSL = _bool(env.get("MAIL_USE_SSL"), False)
        self.MAIL_FROM = env.get("MAIL_FROM", "portal@localhost")
        self.MAIL_TIMEOUT = _int(env.get("MAIL_TIMEOUT"), 10)

        # Documents (used by the document service).
        self.STORAGE_BACKEND = env.get("STORAGE_BACKEND", "local")
        self.UPLOAD_DIR = Path(env.get("UPLOAD_DIR", str(self.INSTANCE_DIR / "uploads")))
        self.S3_BUCKET = env.get("S3_BUCKET", "")
        self.S3_ENDPOINT_URL = env.get("S3_ENDPOINT_URL", "")
        self.S3_REGION = env.get("S3_REGION", "eu-central-1")
        self.MAX_UPLOAD_MB = _int(env.get("MAX_UPLOAD_MB"), 20)
        self.UPLOAD_MAX_ZIP_ENTRIES = _int(env.get("UPLOAD_MAX_ZIP_ENTRIES"), 1000)
        self.UPLOAD_MAX_EXPANDED_MB = _int(env.get("UPLOAD_MAX_EXPANDED_MB"), 100)
        # Bulk XLSX uploads of monthly reports: limits checked while the file is read (portal/reports/xlsx_reader.py).
        self.BULK_MAX_ROWS = _int(env.get("BULK_MAX_ROWS"), 5000)
        self.BULK_MAX_CELLS = _int(env.get("BULK_MAX_CELLS"), 150_000)
        self.BULK_MAX_XML_MB = _int(env.get("BULK_MAX_XML_MB"), 20)
        # With S3, downloads are streamed through the portal unless this is set; then the portal
        # answers with a presigned link valid for 60 seconds, issued after the permission check.
        self.S3_PRESIGNED_DOWNLOADS = _bool(env.get("S3_PRESIGNED_DOWNLOADS"), False)
        self.CLAMAV_HOST = env.get("CLAMAV_HOST", "")
        self.CLAMAV_PORT = _int(env.get("CLAMAV_PORT"), 3310)

        # Accounts and sessions.
        self.LOGIN_MAX_FAILURES_ACCOUNT = _int(env.get("LOGIN_MAX_FAILURES_ACCOUNT"), 5)
        self.LOGIN_MAX_FAILURES_ADDRESS = _int(env.get("LOGIN_MAX_FAILURES_ADDRESS"), 30)
        self.LOGIN_WINDOW_MINUTES = _int(env.get("LOGIN_WINDOW_MINUTES"), 15)
        # IATI: the ministry publishes; its organisation identifier is IATI_REPORTING_ORG_REF, or its tax number
        # under the registration agency prefix IATI_ORG_PREFIX (also used for the receivers' tax numbers).
        self.IATI_REPORTING_ORG_REF = env.get("IATI_REPORTING_ORG_REF", "")
        self.IATI_ORG_PREFIX = env.get("IATI_ORG_PREFIX", "MK-CRN")
        self.IATI_PROJECT_ID = env.get("IATI_PROJECT_ID", "P162246")
        self.IATI_LOAN_ID = env.get("IATI_LOAN_ID", "IBRD-8902-MK")
        self.IATI_PLANNED_START = env.get("IATI_PLANNED_START", "2018-09-13")
        # API requests per minute, per token and per client address (shared by all workers; 429 past them).
        self.API_RATE_LIMIT_TOKEN = _int(env.get("API_RATE_LIMIT_TOKEN"), 120)
        self.API_RATE_LIMIT_ADDRESS = _int(env.get("API_RATE_LIMIT_ADDRESS"), 240)
        self.SESSION_IDLE_MINUTES = _int(env.get("SESSION_IDLE_MINUTES"), 30)
        self.SESSION_ABSOLUTE_HOURS = _int(env.get("SESSION_ABSOLUTE_HOURS"), 12)
        self.TOKEN_VALID_HOURS = _int(env.get("TOKEN_VALID_HOURS"), 72)
        self.PASSWORD_MIN_LENGTH = 12
        # argon2id cost; the defaults follow RFC 9106's second recommendation.
        self.ARGON2_TIME_COST = _int(env.get("ARGON2_TIME_COST"), 3)
        self.ARGON2_MEMORY_KIB = _int(env.get("ARGON2_MEMORY_KIB"), 65536)
        # Multi-factor sign-in (TOTP): required at every sign-in for these roles when MFA_REQUIRED is on
        # (on by default in production only). Anyone may enrol voluntarily; once enrolled, always asked.
        self.MFA_REQUIRED = _bool(env.get("MFA_REQUIRED"), False)
        self.MFA_REQUIRED_ROLES = tuple(
            r.strip() for r in env.get("MFA_REQUIRED_ROLES", "admin,finance,reviewer").split(",") if r.strip())
        self.MFA_ISSUER = env.get("MFA_ISSUER", "") or self.PORTAL_AGENCY_NAME or "Social services grant portal"
        # Minutes between a correct password and the code before the sign-in must start again.
        self.MFA_PENDING_MINUTES = _int(env.get("MFA_PENDING_MINUTES"), 10)
        self.SESSION_COOKIE_NAME = "portal_session"
        self.SESSION_COOKIE_HTTPONLY = True
        self.SESSION_COOKIE_SAMESITE = "Lax"
        self.SESSION_COOKIE_SECURE = _bool(env.get("SESSION_COOKIE_SECURE"), False)
        self.REMEMBER_COOKIE_DURATION = 0
        self.WTF_CSRF_ENABLED = True
        # The CSRF token lives as long as the session: a long form is never lost to it.
        self.WTF_CSRF_TIME_LIMIT = None
        self.TRUSTED_PROXIES = _int(env.get("TRUSTED_PROXIES"), 0)
        # The service-user register (portal/register/keys.py): the secret of the keyed hash (HMAC-SHA256) that
        # stands for a personal number, and the earlier secrets, oldest first, once it has been re-keyed
        # (`flask register-rekey`). Development and tests use a fixed, public key; production requires its own.
        self.REGISTER_HMAC_KEY = env.get("REGISTER_HMAC_KEY", "")
        self.REGISTER_HMAC_OLD_KEYS = tuple(k.strip() for k in env.get("REGISTER_HMAC_OLD_KEYS", "").split(",") if k.strip())
        # Years after a grant's end when its register is anonymised (`flask register-anonymise`).
        self.REGISTER_RETENTION_YEARS = _int(env.get("REGISTER_RETENTION_YEARS"), 5)

        # Languages: Macedonian is the default, then Albanian and English.
        self.LANGUAGES = ("mk", "sq", "en")
        self.BABEL_DEFAULT_LOCALE = "mk"
        self.BABEL_DEFAULT_TIMEZONE = "Europe/Skopje"
        self.BABEL_TRANSLATION_DIRECTORIES = str(BASE_DIR / "portal" / "translations")
        self.PAGE_SIZE = _int(env.get("PAGE_SIZE"), 25)
        # The whole request may carry one file at the limit plus the form around it.
        self.MAX_CONTENT_LENGTH = self.MAX_UPLOAD_MB * 1024 * 1024 + 64 * 1024
        self.HSTS = False

        for key, value in overrides.items():
            setattr(self, key, value)
        if "MAX_CONTENT_LENGTH" not in overrides:
            self.MAX_CONTENT_LENGTH = self.MAX_UPLOAD_MB * 1024 * 1024 + 64 * 1024

    def validate(self) -> None:
        """Raise if the configuration is unsafe for this environment."""
        known = {"admin", "reviewer", "finance", "municipality", "provider", "monitor"}
        unknown = [r for r in self.MFA_REQUIRED_ROLES if r not in known]
        if unknown:  # a typo must not silently leave a role without its second factor
            raise RuntimeError(f"MFA_REQUIRED_ROLES names unknown roles: {', '.join(unknown)} "
                               f"(known: {', '.join(sorted(known))}).")


class DevelopmentConfig(Config):
    ENV_NAME = "development"

    def __init__(self, **overrides: object) -> None:
        super().__init__(**overrides)
        if not self.SECRET_KEY:
            # A random key kept in the instance folder: sessions survive restarts.
            self.INSTANCE_DIR.mkdir(parents=True, exist_ok=True)
            key_file = self.INSTANCE_DIR / "secret_key"
            if not key_file.exists():
                key_file.write_text(secrets.token_hex(32))
            self.SECRET_KEY = key_file.read_text().strip()
        if not self.REGISTER_HMAC_KEY:
            self.REGISTER_HMAC_KEY = DEV_REGISTER_KEY


class TestingConfig(Config):
    __test__ = False  # not a pytest test class
    ENV_NAME = "testing"
    TESTING = True

    def __init__(self, **overrides: object) -> None:
        defaults: dict[str, object] = {
            "SECRET_KEY": "testing-" + secrets.token_hex(16),
            "WTF_CSRF_ENABLED": False,
            "ARGON2_TIME_COST": 1,
            "ARGON2_MEMORY_KIB": 8192,
            "MAIL_SERVER": "",
            # Test suites send hundreds of API requests a minute from one address; the limit's own tests lower these.
            "API_RATE_LIMIT_TOKEN": 100_000,
            "API_RATE_LIMIT_ADDRESS": 100_000,
            "REGISTER_HMAC_KEY": DEV_REGISTER_KEY,
        }
        defaults.update(overrides)
        super().__init__(**defaults)
        if "DATABASE_URL" not in overrides:
            self.DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "sqlite://")


class ProductionConfig(Config):
    ENV_NAME = "production"

    def __init__(self, **overrides: object) -> None:
        super().__init__(**overrides)
        self.SESSION_COOKIE_SECURE = _bool(os.environ.get("SESSION_COOKIE_SECURE"), True)
        if self.SESSION_COOKIE_SECURE:
            # `__Host-`: the browser accepts the cookie only over HTTPS, for this host alone (no Domain), on Path=/,
            # so neither a sibling subdomain nor plain HTTP can plant or overwrite the session.
            self.SESSION_COOKIE_NAME = "__Host-portal_session"
            self.SESSION_COOKIE_DOMAIN = None
            self.SESSION_COOKIE_PATH = "/"
        self.HSTS = True
        if "MFA_REQUIRED" not in overrides:
            self.MFA_REQUIRED = _bool(os.environ.get("MFA_REQUIRED"), True)

    def validate(self) -> None:
        super().validate()
        if self.SECRET_KEY.strip().lower() in INSECURE_KEYS or len(self.SECRET_KEY) < 32:
            raise RuntimeError(
                "SECRET_KEY must be set to a random value of at least 32 characters in production "
                "(for example: python -c 'import secrets; print(secrets.token_hex(32))')."
            )
        keys = (self.REGISTER_HMAC_KEY, *self.REGISTER_HMAC_OLD_KEYS)
        if any(k.strip().lower() in INSECURE_KEYS or len(k) < 32 or k == DEV_REGISTER_KEY for k in keys) \
                or self.REGISTER_HMAC_KEY == self.SECRET_KEY or len(set(keys)) != len(keys):
            raise RuntimeError(
                "REGISTER_HMAC_KEY (and every key in REGISTER_HMAC_OLD_KEYS) must be a random value of at least 32 "
                "characters in production, different from SECRET_KEY and from each other: it turns personal numbers "
                "into the register's keyed hashes. Keep it outside the database and its backups."
            )


CONFIGS: dict[str, type[Config]] = {
    "development": DevelopmentConfig,
    "testing": TestingConfig,
    "production": ProductionConfig,
}


def get_config(name: str | None = None, **overrides: object) -> Config:
    name = name or os.environ.get("PORTAL_ENV", "production")
    try:
        cls = CONFIGS[name]
    except KeyError:
        raise RuntimeError(f"PORTAL_ENV must be one of {', '.join(CONFIGS)}; got {name!r}") from None
    return cls(**overrides)
