"""The customer's private tracking link: derive it, store only its hash, look a case up by it,
and issue a new one when the customer lost theirs (I1, I5, I8).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.domain.workflow import Status
from portal.models import Ticket
from portal.services import outbox
from portal.services.settings import Rules


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def tracking_token(ticket: Ticket, secret: str) -> str:
    """The customer's private link token: HMAC-SHA256 over the ticket id and its nonce (I1).

    256 bits, unrelated to the reference, recomputable by the server alone, so every message can
    carry the link while the database keeps only its hash.
    """
    if ticket.tracking_nonce is None or not secret:
        raise ValueError("a tracking link needs the ticket's nonce and the app's secret")
    digest = hmac.new(
        secret.encode("utf-8"), f"{ticket.id}:{ticket.tracking_nonce}".encode(), hashlib.sha256
    ).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def issue_tracking_link(ticket: Ticket, secret: str) -> str:
    """Give the ticket a new nonce (revoking any earlier link) and return its token."""
    ticket.tracking_nonce = secrets.token_hex(16)
    token = tracking_token(ticket, secret)
    ticket.tracking_token_hash = hash_token(token)
    return token


def link_fingerprint(ticket: Ticket) -> str | None:
    """A short mark of the ticket's current link, for the session the link opens (I5).

    A hash of the nonce, never the token: the session cookie is signed, not encrypted, and must not
    carry anything that opens the case elsewhere. A new link (a new nonce) changes the mark, so
    every session an earlier link opened stops matching. None while the ticket has no link.
    """
    if ticket.tracking_nonce is None:
        return None
    return hashlib.sha256(f"link:{ticket.tracking_nonce}".encode()).hexdigest()[:16]


def opened_by_current_link(ticket: Ticket, fingerprint: object) -> bool:
    """Whether a session's mark still names the ticket's link of today (I5: rotation ends it)."""
    current = link_fingerprint(ticket)
    if current is None or not isinstance(fingerprint, str) or not fingerprint.isascii():
        return False  # compare_digest refuses non-ASCII text; such a mark was never ours anyway
    return hmac.compare_digest(current, fingerprint)


def find_by_token(session: Session, token: str) -> Ticket | None:
    """Look a case up by its tracking token; the reference alone never opens a case (I1)."""
    if not token or len(token) > 128:
        return None
    return session.scalars(select(Ticket).where(Ticket.tracking_token_hash == hash_token(token))).first()


def resend_tracking_link(
    session: Session, reference: str, contact: str, *, now: datetime, rules: Rules
) -> bool:
    """ "Lost my link": if the reference and contact match, send a new link to the contact on file.

    The caller shows the same answer whatever this returns, so nobody learns whether a pair
    exists (security.md I8); the old link stops working (I5).
    """
    ticket = session.scalars(select(Ticket).where(Ticket.reference == reference.strip().upper())).first()
    if ticket is None or ticket.status == Status.CLOSED.value:
        return False
    given = contact.strip().lower()
    matches = bool(given) and given in {
        (ticket.customer_email or "").lower(),
        (ticket.customer_phone or "").lower(),
    }
    if not matches:
        return False
    issue_tracking_link(ticket, rules.link_secret)
    outbox.notify_customer(session, ticket, "link_resent", now=now)
    session.commit()
    return True
