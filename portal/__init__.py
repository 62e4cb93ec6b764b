"""The grant programme portal: application factory."""

from __future__ import annotations

import logging

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from config import BASE_DIR, Config, get_config


def create_app(config: Config | str | None = None) -> Flask:
    if config is None or isinstance(config, str):
        config = get_config(config)
    config.validate()
    app = Flask(
        __name__,
        template_folder=str(BASE_DIR / "templates"),
        static_folder=str(BASE_DIR / "static"),
        instance_path=str(config.INSTANCE_DIR),
    )
    app.config.from_object(config)
    app.config["PORTAL_ENV"] = config.ENV_NAME
    if app.config["TRUSTED_PROXIES"]:
        n = app.config["TRUSTED_PROXIES"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)  # type: ignore[method-assign]
    _configure_logging(app)
    register_extensions(app)
    register_blueprints(app)
    register_errorhandlers(app)
    register_cli(app)
    return app


def _configure_logging(app: Flask) -> None:
    if not app.debug and not app.testing:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)


def register_extensions(app: Flask) -> None:
    from portal import db as db_module
    from portal.auth.sessions import init_login
    from portal.documents.storage import init_storage
    from portal.extensions import babel, csrf
    from portal.guard import init_guard
    from portal.i18n import register_template_helpers, select_locale
    from portal.mail import init_mail
    from portal.security import register_security

    db_module.init_app(app)
    csrf.init_app(app)
    babel.init_app(app, locale_selector=select_locale, default_timezone="Europe/Skopje")
    init_login(app)
    register_security(app)
    init_guard(app)
    register_template_helpers(app)
    init_mail(app)
    init_storage(app)
    from portal.indicators import freshness

    freshness.init_app(app)  # the indicators' data version moves with every change they depend on


def register_blueprints(app: Flask) -> None:
    import portal.finance_reports.amendment_routes  # noqa: F401  (budget amendments, on the financial reports' blueprint)
    import portal.indicators.isr_routes  # noqa: F401  (the ISR pages, on the indicators blueprint)
    from portal.admin.routes import bp as admin_bp
    from portal.api.routes import bp as api_bp
    from portal.applications.routes import bp as applications_bp
    from portal.auth.mfa_routes import bp as mfa_bp
    from portal.auth.routes import bp as auth_bp
    from portal.calls.routes import admin as calls_admin_bp
    from portal.calls.routes import public as calls_bp
    from portal.documents.routes import bp as documents_bp
    from portal.eois.routes import bp as eois_bp
    from portal.finance_reports.routes import bp as finance_reports_bp
    from portal.grants.routes import bp as grants_bp
    from portal.grievances.routes import bp as grievances_bp
    from portal.indicators.routes import bp as indicators_bp
    from portal.main.routes import bp as main_bp
    from portal.organisations.routes import bp as organisations_bp
    from portal.reference.routes import bp as reference_bp
    from portal.register.routes import bp as register_bp
    from portal.reports.routes import bp as reports_bp

    for bp in (main_bp, auth_bp, organisations_bp, documents_bp, calls_bp, calls_admin_bp, eois_bp, applications_bp, grants_bp, reports_bp,
               indicators_bp, api_bp, admin_bp, reference_bp, mfa_bp, grievances_bp, register_bp,
               finance_reports_bp):
        app.register_blueprint(bp)


def register_errorhandlers(app: Flask) -> None:
    from portal.errors import register_errorhandlers as register

    register(app)


def register_cli(app: Flask) -> None:
    from portal.cli import register_commands

    register_commands(app)
