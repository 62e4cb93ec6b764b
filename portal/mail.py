"""Mail through the outbox: `queue` writes a row in the caller's transaction; after the
request commits, pending rows are delivered over SMTP. `flask send-mail` retries failures."""

from __future__ import annotations

import logging
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

import sqlalchemy as sa
from flask import Flask, current_app, g
from sqlalchemy.orm import Session

from portal.db import utcnow
from portal.models.mail import MailStatus, OutboxEmail

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 5


def queue(session: Session, to_address: str, subject: str, body: str) -> OutboxEmail:
    message = OutboxEmail(to_address=to_address, subject=str(subject), body_text=str(body))
    session.add(message)
    g.mail_queued = True
    return message


def _send_one(message: OutboxEmail) -> None:
    config = current_app.config
    email = EmailMessage()
    email["From"] = config["MAIL_FROM"]
    email["To"] = message.to_address
    email["Subject"] = message.subject
    email["Date"] = formatdate(localtime=False)
    email["Message-ID"] = make_msgid(domain=config["MAIL_FROM"].rpartition("@")[2] or "localhost")
    email.set_content(message.body_text)
    if not config["MAIL_SERVER"]:
        log.info("mail (no MAIL_SERVER set, not sent) to %s: %s\n%s", message.to_address, message.subject, message.body_text)
        return
    timeout = config["MAIL_TIMEOUT"]
    if config["MAIL_USE_SSL"]:
        smtp: smtplib.SMTP = smtplib.SMTP_SSL(config["MAIL_SERVER"], config["MAIL_PORT"], timeout=timeout,
                                              context=ssl.create_default_context())
    else:
        smtp = smtplib.SMTP(config["MAIL_SERVER"], config["MAIL_PORT"], timeout=timeout)
    with smtp:
        if config["MAIL_USE_TLS"]:
            smtp.starttls(context=ssl.create_default_context())
        if config["MAIL_USERNAME"]:
            smtp.login(config["MAIL_USERNAME"], config["MAIL_PASSWORD"])
        smtp.send_message(email)


def deliver_pending(session: Session, limit: int = 50) -> tuple[int, int]:
    """Send pending messages; returns (sent, failed). Commits its own bookkeeping."""
    sent = failed = 0
    messages = session.scalars(
        sa.select(OutboxEmail)
        .where(OutboxEmail.status == MailStatus.PENDING)
        .order_by(OutboxEmail.id)
        .limit(limit)
    ).all()
    for message in messages:
        message.attempts += 1
        try:
            _send_one(message)
        except (OSError, smtplib.SMTPException) as exc:
            message.last_error = f"{type(exc).__name__}: {exc}"[:1000]
            if message.attempts >= MAX_ATTEMPTS:
                message.status = MailStatus.FAILED
            failed += 1
            log.warning("mail to %s failed: %s", message.to_address, message.last_error)
        else:
            message.status = MailStatus.SENT
            message.sent_at = utcnow()
            sent += 1
        session.commit()
    return sent, failed


def init_mail(app: Flask) -> None:
    @app.after_request
    def _deliver(response):
        if g.pop("mail_queued", False) and response.status_code < 400:
            from portal.db import db

            try:
                deliver_pending(db)
            except Exception:  # delivery must never break the response; the CLI retries
                log.exception("mail delivery failed")
                db.rollback()
        return response
