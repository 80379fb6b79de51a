"""Who sees which tickets, everywhere tickets are listed (R10, R20, security.md F7, G1–G3, A11).

One visibility rule serves the queue, its tabs, its counts, search and the ticket page
(domain.md "One visibility rule"). These tests look for a ticket where it must not be: the
person it is about (staff_s, and a manager it is about) and another department (resp_b1) must
not find it by scope, status, reference, customer name or a word of its text, nor count it, nor
open it by URL. Paging walks the whole queue; hostile query strings fall back to the default.
"""

from __future__ import annotations

import html
import random
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import quote

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from portal.extensions import db
from portal.models import AuditLog, Ticket
from portal.queries.staff_queue import SCOPES, STATUS_FILTERS
from tests.factories import T0, Org, make_ticket

ROW = re.compile(r'id="ticket-row-(\d+)"')
NEXT = re.compile(r'<a href="([^"]+)"[^>]*rel="next"')
TAB_COUNT = re.compile(r'href="[^"]*[?&;]scope=(\w+)[^"]*"[^>]*>[^<]*<span class="count"[^>]*>(\d+)</span>')


@dataclass
class Cast:
    """The tickets of these tests. S-tickets are about staff_s (R10); `about_mgr_1` about mgr_1."""

    dept_a: Ticket
    dept_b: Ticket
    about_staff_s: list[Ticket]
    about_mgr_1: Ticket


@pytest.fixture
def cast(app: Flask, org: Org) -> Cast:
    upload_dir = app.config["UPLOAD_FOLDER"]

    def ticket(department: str, minutes: int, **fields: Any) -> Ticket:
        return make_ticket(
            db.session, org, upload_dir, department=department, now=T0 + timedelta(minutes=minutes), **fields
        )

    dept_a = ticket("A", 0, customer_name="Chen Jing", description="The lid is marmalade-aardvark loose.")
    dept_b = ticket("B", 1, customer_name="Olga Berg", description="The clerk was sassafras-hedgehog rude.")
    about_staff_s = [
        ticket("A", 2 + i, customer_name="Zhao Xin", description=f"Staff S was quixotic-zebra rude ({i}).")
        for i in range(4)
    ]
    about_mgr_1 = ticket(
        "B", 9, customer_name="Ruth Pike", description="The manager was pelican-umbrella curt."
    )
    staff_s, lead_a = org.users["staff_s"], org.users["lead_a"]
    for item in about_staff_s:
        item.concerns_user_id = staff_s.id
    # Every status an S-ticket can be in, including one staff_s claimed before it was known to be
    # about them (G4): ownership must not reopen the view they are recused from.
    about_staff_s[1].owner_id, about_staff_s[1].status = staff_s.id, "in_progress"
    about_staff_s[2].owner_id, about_staff_s[2].status = lead_a.id, "resolved"
    about_staff_s[3].owner_id, about_staff_s[3].status = lead_a.id, "closed"
    about_mgr_1.concerns_user_id = org.users["mgr_1"].id
    db.session.commit()
    return Cast(dept_a, dept_b, about_staff_s, about_mgr_1)


# --- helpers -----------------------------------------------------------------------------------


def queue(client: FlaskClient, query: str = "") -> str:
    response = client.get(f"/staff/queue?{query}" if query else "/staff/queue")
    assert response.status_code == 200, query
    return response.get_data(as_text=True)


def row_ids(page: str) -> list[int]:
    return [int(i) for i in ROW.findall(page)]


def tab_counts(page: str) -> dict[str, int]:
    return {scope: int(count) for scope, count in TAB_COUNT.findall(page)}


def leaks(page: str, hidden: list[Ticket]) -> list[str]:
    """Every trace of the hidden tickets on a page: rows, links, reference or customer as text.

    A searched-for reference or name is echoed in the search box and the tab links; that is the
    user's own input, so only text between tags counts.
    """
    found = []
    for ticket in hidden:
        if f'id="ticket-row-{ticket.id}"' in page or f'/staff/tickets/{ticket.id}"' in page:
            found.append(f"ticket {ticket.id} row or link")
        for shown in (ticket.reference, ticket.customer_name):
            if f">{shown}<" in page:
                found.append(f"{shown!r} of ticket {ticket.id}")
    return found


def every_listing(client: FlaskClient, hidden: list[Ticket], searches: list[str]) -> list[str]:
    """Walk every scope × status, then every search in every scope; report where hidden ones show."""
    problems = []
    for scope in SCOPES:
        for status in STATUS_FILTERS:
            query = f"scope={scope}&status={status}"
            problems += [f"{query}: {leak}" for leak in leaks(queue(client, query), hidden)]
        for text in searches:
            for status in ("all", "open"):
                query = f"scope={scope}&status={status}&q={quote(text)}"
                problems += [f"{query}: {leak}" for leak in leaks(queue(client, query), hidden)]
    return problems


def denied_by_url(client: FlaskClient, ticket: Ticket, actor_id: int) -> None:
    """404 — the same answer as for a ticket that does not exist — and an audit row (G1, F2)."""
    response = client.get(f"/staff/tickets/{ticket.id}")
    assert response.status_code == 404
    body = response.get_data(as_text=True)
    assert ticket.reference not in body and ticket.customer_name not in body
    db.session.expire_all()
    rows = db.session.scalars(
        select(AuditLog).where(
            AuditLog.action == "access_denied",
            AuditLog.actor_id == actor_id,
            AuditLog.target == f"ticket:{ticket.id}",
        )
    ).all()
    assert len(rows) == 1


# --- recusal (R10) -----------------------------------------------------------------------------


def test_tickets_about_staff_s_appear_in_none_of_their_queues_tabs_statuses_or_searches__g2_g3(
    cast: Cast, login_as: Any
) -> None:
    staff_s = login_as("staff_s")
    searches = [
        *[t.reference for t in cast.about_staff_s],
        cast.about_staff_s[0].reference.lower(),
        "Zhao Xin",
        "zhao",
        "quixotic-zebra",
    ]
    assert every_listing(staff_s, cast.about_staff_s, searches) == []
    # A colleague's queue and search show them, so the checks above could have failed.
    resp_a1 = login_as("resp_a1")
    assert len(leaks(queue(resp_a1, "scope=all&status=all"), cast.about_staff_s)) == 3 * 4
    colleague = row_ids(queue(resp_a1, "scope=all&status=all&q=quixotic-zebra"))
    assert sorted(colleague) == sorted(t.id for t in cast.about_staff_s)
    assert cast.dept_a.id in row_ids(queue(staff_s))


def test_tickets_about_staff_s_are_404_by_url_with_an_audit_row__g1(
    cast: Cast, org: Org, login_as: Any
) -> None:
    staff_s = login_as("staff_s")
    for ticket in cast.about_staff_s:
        denied_by_url(staff_s, ticket, org.users["staff_s"].id)
    assert staff_s.get(f"/staff/tickets/{cast.dept_a.id}").status_code == 200


def test_tickets_about_staff_s_do_not_count_in_their_tabs(cast: Cast, login_as: Any) -> None:
    """The tabs are drill-downs, so their counts follow the visibility rule (domain.md)."""
    assert tab_counts(queue(login_as("staff_s"))) == {"all": 1, "mine": 0, "unassigned": 1, "department": 1}
    # resp_a1 counts the open S-tickets (new and in progress) that staff_s does not.
    assert tab_counts(queue(login_as("resp_a1"))) == {"all": 3, "mine": 0, "unassigned": 2, "department": 3}


# --- departments (R20) -------------------------------------------------------------------------


def test_resp_b1_never_sees_department_a_tickets_in_queue_search_or_counts__f7(
    cast: Cast, org: Org, login_as: Any
) -> None:
    resp_b1 = login_as("resp_b1")
    department_a = [cast.dept_a, *cast.about_staff_s]
    searches = [
        cast.dept_a.reference,
        "Chen Jing",
        "marmalade-aardvark",
        "Zhao Xin",
        "quixotic-zebra",
        "kettle",
    ]
    assert every_listing(resp_b1, department_a, searches) == []
    assert row_ids(queue(resp_b1, "q=sassafras-hedgehog")) == [cast.dept_b.id]
    assert tab_counts(queue(resp_b1)) == {"all": 2, "mine": 0, "unassigned": 2, "department": 2}
    denied_by_url(resp_b1, cast.dept_a, org.users["resp_b1"].id)


def test_managers_see_every_department_but_not_a_ticket_about_themselves__r10_r20(
    cast: Cast, org: Org, login_as: Any
) -> None:
    mgr_1, mgr_2 = login_as("mgr_1"), login_as("mgr_2")
    everything_but_mine = {cast.dept_a.id, cast.dept_b.id, *(t.id for t in cast.about_staff_s)}

    assert set(row_ids(queue(mgr_1, "status=all"))) == everything_but_mine
    assert (
        every_listing(mgr_1, [cast.about_mgr_1], [cast.about_mgr_1.reference, "Ruth Pike", "pelican"]) == []
    )
    assert tab_counts(queue(mgr_1)) == {"all": 4, "mine": 0, "unassigned": 1, "department": 1}
    denied_by_url(mgr_1, cast.about_mgr_1, org.users["mgr_1"].id)

    assert set(row_ids(queue(mgr_2, "status=all"))) == everything_but_mine | {cast.about_mgr_1.id}
    assert row_ids(queue(mgr_2, "q=pelican-umbrella")) == [cast.about_mgr_1.id]
    assert tab_counts(queue(mgr_2)) == {"all": 5, "mine": 0, "unassigned": 2, "department": 2}
    assert mgr_2.get(f"/staff/tickets/{cast.about_mgr_1.id}").status_code == 200


# --- paging ------------------------------------------------------------------------------------


@pytest.mark.parametrize("sort", ["due", "newest"])
def test_walking_next_page_links_shows_each_of_120_tickets_exactly_once_in_order(
    sort: str, app: Flask, org: Org, login_as: Any
) -> None:
    """Keyset paging: 120 visible tickets (in threes with the same due time, filed in random
    order) plus department B's, which must not appear; every "Next page" link followed."""
    upload_dir = app.config["UPLOAD_FOLDER"]
    offsets = list(range(120))
    random.Random(20261116).shuffle(offsets)
    for offset in offsets:
        make_ticket(db.session, org, upload_dir, now=T0 + timedelta(minutes=30 * (offset // 3)))
    for minute in range(5):
        make_ticket(db.session, org, upload_dir, department="B", now=T0 + timedelta(minutes=minute))
    client = login_as("resp_a1")
    expected = db.session.scalars(select(Ticket).where(Ticket.department_id == org.departments["A"].id)).all()
    if sort == "due":
        expected_ids = [t.id for t in sorted(expected, key=lambda t: (t.due_at, t.id))]
    else:
        expected_ids = [t.id for t in sorted(expected, key=lambda t: (t.received_at, t.id), reverse=True)]

    seen: list[int] = []
    pages = 0
    url: str | None = f"/staff/queue?sort={sort}"
    while url is not None:
        pages += 1
        assert pages <= 10, "the pager does not end"
        response = client.get(url)
        assert response.status_code == 200
        page = response.get_data(as_text=True)
        seen += row_ids(page)
        found = NEXT.search(page)
        url = html.unescape(found.group(1)) if found else None

    assert pages == 3  # 50 + 50 + 20 at the default page size
    assert len(seen) == len(set(seen)) == 120
    assert seen == expected_ids


# --- query-string abuse (A11) ------------------------------------------------------------------

DEFAULT_BEHAVIOUR = [
    "sort=password_hash",
    "sort=owner__password_hash",
    "sort=due%3BDROP%20TABLE%20ticket",
    "status=open&status=closed",
    "scope=all&scope=mine",
    "scope=../../admin",
    "status=OPEN",
    "after=garbage",
    "after=~",
    "after=2026-13-45T00:00:00~1",
    "after=2026-11-16T09:00:00~1",  # no time zone: not a cursor we ever issue
    "page=-1",
    "page=abc",
    "per_page=1000000",
    "category=abc",
    "category=-1",
    "priority=%3Cscript%3E",
]

NO_SERVER_ERROR = [
    "category=99999999999999999999",
    "after=2026-11-16T09:00:00%2B00:00~99999999999999999999",
    "after=9999-12-31T23:59:59%2B00:00~1",
    "after=0001-01-01T00:00:00%2B00:00~-1",
    "q=" + "%25" * 300,
    "q=%00%27%22%5C",
    "lang=../../etc/passwd",
]


@pytest.fixture
def six_tickets(app: Flask, org: Org) -> list[Ticket]:
    upload_dir = app.config["UPLOAD_FOLDER"]
    return [make_ticket(db.session, org, upload_dir, now=T0 + timedelta(hours=h)) for h in (5, 1, 3, 0, 4, 2)]


@pytest.mark.parametrize("query", DEFAULT_BEHAVIOUR)
def test_unknown_or_repeated_queue_parameters_fall_back_to_the_default_list__a11(
    query: str, six_tickets: list[Ticket], login_as: Any
) -> None:
    """A11 (ASVS 5.1.1): never an error, never an attacker-chosen column; the default list."""
    client = login_as("resp_a1")
    default = row_ids(queue(client))
    assert len(default) == 6
    assert row_ids(queue(client, query)) == default


@pytest.mark.parametrize("query", NO_SERVER_ERROR)
def test_out_of_range_queue_parameters_never_cause_a_server_error__a11(
    query: str, six_tickets: list[Ticket], login_as: Any
) -> None:
    response = login_as("resp_a1").get(f"/staff/queue?{query}")
    assert response.status_code == 200
