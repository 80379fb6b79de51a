"""Two writers, one ticket: the one that loses the race gets a 409 with the page as it now is,
never a 500 (security.md 3.3, K-cases; found by `make soak` on PostgreSQL).

The race is made to happen for real: the request's copy of the ticket is read, another
connection changes and commits the ticket, then the request writes from its stale copy.
"""

from __future__ import annotations

from flask import Flask
from sqlalchemy.orm import Session

from portal.extensions import db
from portal.models import Ticket, TicketEvent, utcnow
from portal.services import tickets
from portal.web.answers import Answers, run_service
from tests.factories import Org, make_ticket, rules_for_tests


def test_a_write_from_a_copy_another_writer_changed_first_answers_409(app: Flask, org: Org) -> None:
    ticket_id = make_ticket(db.session, org, app.config["UPLOAD_FOLDER"]).id
    rules = rules_for_tests(app.config["UPLOAD_FOLDER"])
    responder = org.users["resp_a1"]
    tickets.claim(db.session, responder, db.session.get(Ticket, ticket_id), now=utcnow(), rules=rules)

    with app.test_request_context(f"/staff/tickets/{ticket_id}/reply", method="POST"):
        db.session().expire_on_commit = False
        stale = db.session.get(Ticket, ticket_id)
        assert stale is not None
        db.session.commit()  # this request's copy is read and kept; its transaction has ended
        with Session(db.engine) as other:  # another worker answers the same ticket first
            winner = other.get(Ticket, ticket_id)
            assert winner is not None
            winner.priority = "high"
            other.commit()
        answered = run_service(
            lambda: tickets.reply(db.session, responder, stale, "Late answer", now=utcnow(), rules=rules),
            Answers(
                target=f"ticket:{ticket_id}", done=lambda _r: ("done", 303), again=lambda s: ("again", s)
            ),
        )
        assert answered == ("again", 409)

    db.session.expire_all()
    assert db.session.get(Ticket, ticket_id).priority == "high"  # type: ignore[union-attr]
    replies = db.session.query(TicketEvent).filter_by(ticket_id=ticket_id, kind="reply").count()
    assert replies == 0  # the losing write left nothing behind
