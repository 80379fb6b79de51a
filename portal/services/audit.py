"""The security audit trail: sign-ins and every refused access (ASVS 7.2, R20)."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy.orm import Session

from portal.models import AuditLog

log = logging.getLogger("portal.audit")


def record(
    session: Session,
    *,
    action: str,
    outcome: str,
    now: datetime,
    actor_id: int | None = None,
    target: str | None = None,
    request_id: str | None = None,
    ip: str | None = None,
) -> None:
    """Append one audit row and log it; commits so the record survives the refused request."""
    session.add(
        AuditLog(
            at=now,
            actor_id=actor_id,
            action=action,
            target=target,
            outcome=outcome,
            request_id=request_id,
            ip=ip,
        )
    )
    session.commit()
    # %r keeps CR/LF in targets from forging extra log lines (ASVS 7.3.1).
    log.info(
        "audit action=%s outcome=%s actor=%s target=%r request=%s",
        action,
        outcome,
        actor_id,
        target,
        request_id,
    )
