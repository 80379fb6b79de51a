"""The soak's reconciliation (bench/soak.py) finds each kind of miss, and only those: no servers,
just a client log, database facts and sink messages made up here."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

SOAK_PATH = Path(__file__).resolve().parents[2] / "bench" / "soak.py"


@pytest.fixture(scope="module")
def soak() -> ModuleType:
    spec = importlib.util.spec_from_file_location("soak_under_test", SOAK_PATH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


T0 = 1_800_000_000.0  # a fixed moment: every time below is T0 + seconds
MARK = "soak-m-0123456789ab"
MARK2 = "soak-m-ba9876543210"


class World:
    """One filed, acknowledged complaint with an attachment, a reply and a claim: all in order."""

    def __init__(self, soak: ModuleType) -> None:
        self.soak = soak
        self.log = soak.ClientLog()
        self.kills: list = []
        self.log.hits = [
            soak.Hit("customer-1", "POST /complaints/new", T0, T0 + 0.2, 303),
            soak.Hit("customer-1", "GET /filed/REF", T0 + 0.3, T0 + 0.4, 200),
        ]
        self.log.filings = [
            soak.FilingRecord(
                "key-aaaaaaaaaaaaaaaa", "a@example.org", "f" * 64, "", ["CP-2026-000001"], ["303"]
            )
        ]
        self.log.actions = [
            soak.ActionRecord("r@soak.example", "claim", "claimed", ticket_id=1, actor_id=7, outcome="done"),
            soak.ActionRecord(
                "r@soak.example", "reply", "reply", ticket_id=1, marker=MARK, actor_id=7, outcome="done"
            ),
        ]
        self.tickets = [soak.TicketFact(1, "CP-2026-000001", "key-aaaaaaaaaaaaaaaa", "a@example.org")]
        self.events = [
            soak.EventFact(10, 1, "filed", None, None),
            soak.EventFact(11, 1, "claimed", 7, None),
            soak.EventFact(12, 1, "reply", 7, f"We are on it. {MARK}"),
        ]
        self.attachments = [soak.AttachmentFact(1, 10, "f" * 64, True)]
        self.notifications = [
            soak.NotificationFact(100, 1, "filed", "email", "sent", T0 + 1, "a@example.org"),
            soak.NotificationFact(101, 1, "reply", "email", "sent", T0 + 2, "a@example.org"),
        ]
        self.sink = [
            soak.SinkMessage(
                "<outbox-100@soak.example>",
                "a@example.org",
                "We have received your complaint CP-2026-000001",
                ("CP-2026-000001",),
                T0 + 1,
            ),
            soak.SinkMessage(
                "<outbox-101@soak.example>",
                "a@example.org",
                "An update on your complaint CP-2026-000001",
                ("CP-2026-000001",),
                T0 + 2,
            ),
        ]
        self.counts = {
            "audit rows": 3,
            "audit chain length": 3,
            "tickets": 1,
            "filed events": 1,
            "tickets with a filed event": 1,
            "acknowledgement rows": 1,
            "attachment rows": 1,
            "attachment files": 1,
        }
        self.integrity = "ok"
        self.audit_ok = True

    def report(self):  # type: ignore[no-untyped-def]
        facts = self.soak.Facts(
            tickets=self.tickets,
            events=self.events,
            attachments=self.attachments,
            notifications=self.notifications,
            counts=self.counts,
            integrity=self.integrity,
            audit_ok=self.audit_ok,
            audit_said="audit chain intact: 3 rows" if self.audit_ok else "audit chain broken at row 2",
            orphan_files=0,
        )
        return self.soak.reconcile(self.log, facts, self.sink, self.kills)


def figure(report, label: str) -> str:  # type: ignore[no-untyped-def]
    return dict(report.figures)[label]


@pytest.fixture
def world(soak: ModuleType) -> World:
    return World(soak)


def test_a_run_in_order_has_no_misses(world: World) -> None:
    report = world.report()
    assert report.misses == []
    assert figure(report, "acknowledgements delivered exactly once (by Message-ID)") == "1 of 1"


def test_a_shown_reference_that_is_not_stored_is_a_miss(world: World) -> None:
    world.tickets = []
    world.events = [e for e in world.events if e.ticket_id != 1]
    assert any("CP-2026-000001 was shown to a customer but is not stored" in m for m in world.report().misses)


def test_one_form_stored_twice_is_a_miss(world: World, soak: ModuleType) -> None:
    world.tickets.append(soak.TicketFact(2, "CP-2026-000002", "key-aaaaaaaaaaaaaaaa", "a@example.org"))
    assert any("stored 2 times" in m for m in world.report().misses)


def test_one_form_showing_two_references_is_a_miss(world: World) -> None:
    world.log.filings[0].shown.append("CP-2026-000002")
    assert any("showed 2 references" in m for m in world.report().misses)


def test_a_complaint_no_client_filed_is_a_miss(world: World, soak: ModuleType) -> None:
    world.tickets.append(soak.TicketFact(2, "CP-2026-000002", "key-unknown-xxxxxxxx", "b@example.org"))
    assert any("no client filed" in m for m in world.report().misses)


def test_a_lost_or_doubled_attachment_is_a_miss(world: World, soak: ModuleType) -> None:
    world.attachments = []
    assert any("attachment sent once, stored 0 times" in m for m in world.report().misses)
    world.attachments = [soak.AttachmentFact(1, 10, "f" * 64, True)] * 2
    assert any("attachment sent once, stored 2 times" in m for m in world.report().misses)
    world.attachments = [soak.AttachmentFact(1, 10, "f" * 64, False)]
    assert any("missing or changed" in m for m in world.report().misses)


def test_a_repeated_message_id_counts_once_and_is_reported(world: World) -> None:
    world.sink.append(world.sink[0])
    report = world.report()
    assert report.misses == []
    assert figure(report, "duplicate deliveries of one Message-ID (at-least-once resend)") == "1"


def test_two_message_ids_for_one_acknowledgement_fail(world: World, soak: ModuleType) -> None:
    world.sink.append(
        soak.SinkMessage(
            "<outbox-999@soak.example>",
            "a@example.org",
            "We have received your complaint CP-2026-000001",
            ("CP-2026-000001",),
            T0 + 3,
        )
    )
    misses = world.report().misses
    assert any("acknowledged under 2 Message-IDs" in m for m in misses)
    assert any("messages with no outbox row" in m for m in misses)


def test_an_acknowledgement_that_never_arrived_is_a_miss(world: World) -> None:
    world.sink = world.sink[1:]
    misses = world.report().misses
    assert any("acknowledgement never arrived" in m for m in misses)
    assert any("marked sent but never arrived" in m for m in misses)


def test_a_send_cut_off_by_the_planned_kill_is_held_not_lost(world: World, soak: ModuleType) -> None:
    world.sink = world.sink[1:]
    world.notifications[0] = soak.NotificationFact(
        100, 1, "filed", "email", "sending", T0 + 1, "a@example.org"
    )
    world.kills = [soak.Kill("jobs", 4242, T0 + 1.2)]
    report = world.report()
    assert report.misses == []
    label = "acknowledgements held by a send the rq-worker kill cut off (resent after 10 min)"
    assert figure(report, label) == "1"
    world.kills = [soak.Kill("jobs", 4242, T0 - 30)]  # claimed after the kill: a live worker is stuck
    assert any("stuck in sending" in m for m in world.report().misses)


def test_mail_left_pending_after_the_drain_is_a_miss(world: World, soak: ModuleType) -> None:
    world.notifications.append(
        soak.NotificationFact(102, 1, "reply", "email", "pending", None, "a@example.org")
    )
    assert any("still pending after the drain" in m for m in world.report().misses)


def test_any_5xx_is_a_miss(world: World, soak: ModuleType) -> None:
    world.log.hits.append(soak.Hit("customer-1", "POST /complaints/new", T0 + 5, T0 + 5.1, 500))
    assert any(m.startswith("500 on POST /complaints/new") for m in world.report().misses)


def test_a_failed_connection_is_explained_only_by_a_planned_worker_kill(
    world: World, soak: ModuleType
) -> None:
    world.log.hits.append(
        soak.Hit("customer-1", "POST /complaints/new", T0 + 5, T0 + 5.3, None, "RemoteDisconnected")
    )
    assert any("not near a planned kill" in m for m in world.report().misses)
    world.kills = [soak.Kill("web", 4242, T0 + 5.2)]
    report = world.report()
    assert report.misses == []
    assert figure(report, "requests cut off by the planned worker kills (reset, no answer)") == "1"
    world.kills = [soak.Kill("jobs", 4242, T0 + 5.2)]  # the job worker serves no HTTP
    assert any("not near a planned kill" in m for m in world.report().misses)


def test_an_action_answered_303_without_its_event_is_a_miss(world: World) -> None:
    world.events = [e for e in world.events if e.kind != "reply"]
    assert any("0 'reply' events, expected 1" in m for m in world.report().misses)


def test_an_action_recorded_twice_is_a_miss(world: World, soak: ModuleType) -> None:
    world.events.append(soak.EventFact(13, 1, "reply", 7, f"We are on it. {MARK}"))
    assert any("2 'reply' events, expected 1" in m for m in world.report().misses)


def test_a_refused_action_must_leave_no_event(world: World, soak: ModuleType) -> None:
    world.log.actions.append(
        soak.ActionRecord(
            "r@soak.example",
            "escalate",
            "escalated",
            ticket_id=1,
            marker=MARK2,
            actor_id=7,
            outcome="refused",
        )
    )
    assert world.report().misses == []
    world.events.append(soak.EventFact(14, 1, "escalated", 7, f"Next tier. {MARK2}"))
    assert any("refused, yet 1 'escalated' events" in m for m in world.report().misses)


def test_a_claim_is_matched_by_its_claimant(world: World, soak: ModuleType) -> None:
    world.events = [e for e in world.events if e.kind != "claimed"] + [
        soak.EventFact(11, 1, "claimed", 8, None)
    ]
    assert any("claim by r@soak.example" in m and "expected 1" in m for m in world.report().misses)


def test_store_checks_integrity_audit_and_counts(world: World) -> None:
    world.integrity = "*** in database main *** Page 12: btreeInitPage() returns error code 11"
    world.audit_ok = False
    world.counts["audit chain length"] = 2
    misses = world.report().misses
    assert any(m.startswith("integrity_check:") for m in misses)
    assert any(m.startswith("flask audit-verify failed") for m in misses)
    assert any("audit rows 3 ≠ audit chain length 2" in m for m in misses)


def test_a_customer_message_attachment_is_checked_on_its_event(world: World, soak: ModuleType) -> None:
    world.log.actions.append(
        soak.ActionRecord(
            "customer-1",
            "message",
            "customer_message",
            reference="CP-2026-000001",
            marker=MARK2,
            attachment_sha256="e" * 64,
            outcome="done",
        )
    )
    world.events.append(soak.EventFact(15, 1, "customer_message", None, f"Any news? {MARK2}"))
    assert any("attachment sent once, stored 0 times" in m for m in world.report().misses)
    world.attachments.append(soak.AttachmentFact(1, 15, "e" * 64, True))
    world.counts["attachment rows"] = world.counts["attachment files"] = 2
    assert world.report().misses == []


def test_after_waiting_for_the_resend_a_cut_off_send_is_no_excuse(world: World, soak: ModuleType) -> None:
    world.sink = world.sink[1:]
    world.notifications[0] = soak.NotificationFact(
        100, 1, "filed", "email", "sending", T0 + 1, "a@example.org"
    )
    world.kills = [soak.Kill("jobs", 4242, T0 + 1.2, resend_awaited=True)]
    misses = world.report().misses
    assert any("acknowledgement never arrived" in m for m in misses)
    assert any("stuck in sending" in m for m in misses)
