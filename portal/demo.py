"""A demo organisation for a fresh development database: departments, categories, one account
per role and a few dozen complaints in different states, all made through the real services."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.domain.permissions import Role
from portal.models import Callback, Category, RootCause, Ticket, User
from portal.services import aftercare, filing, ladder, resolutions, settings, starter, tickets

DEMO_PASSWORD = "portal-demo-2026"  # noqa: S105 - demo data only, never in production

ACCOUNTS = [
    ("Rui Chen", "responder@example.com", Role.RESPONDER, "Quality"),
    ("Min-jun Park", "responder2@example.com", Role.RESPONDER, "Customer Service"),
    ("Li Wei", "lead@example.com", Role.LEAD, "Quality"),
    # R9: every department has a lead, so a case at the lead tier — escalated there, or transferred
    # there at that tier — has someone to handle it (services/tickets.transfer).
    ("Mei Lin", "lead.service@example.com", Role.LEAD, "Customer Service"),
    ("Hao Zhang", "lead.aftersale@example.com", Role.LEAD, "After-sales"),
    ("Seo-yeon Han", "lead.office@example.com", Role.LEAD, "Management Office"),
    ("Ji-woo Kim", "manager@example.com", Role.MANAGER, "Management Office"),
    ("Alex Admin", "admin@example.com", Role.ADMIN, "Management Office"),
]
SAMPLES = [
    ("Fridge stopped cooling after two weeks", "Product quality"),
    ("Delivery arrived three days late", "Delivery and installation"),
    ("Technician did not turn up", "Repairs and after-sales service"),
    ("Rude answer at the service desk", "Staff attitude or negligence"),
    ("Charged twice for one order", "Billing and charges"),
    ("Washing machine leaks from the door", "Product quality"),
    ("Installation left a hole in the wall", "Delivery and installation"),
    ("Nobody called back as promised", "Staff attitude or negligence"),
    ("Wrong colour delivered", "Delivery and installation"),
    ("Refund not received after return", "Billing and charges"),
    ("Screen flickers on new television", "Product quality"),
    ("Warranty repair refused", "Repairs and after-sales service"),
]
NAMES = ["Wang Fang", "Zhang Wei", "Kim Seo-yeon", "Lee Ji-ho", "Maria Santos", "O'Hara Sean", "Liu Yang"]


def has_demo_accounts(session: Session) -> bool:
    emails = [email for _name, email, _role, _department in ACCOUNTS]
    return session.scalar(select(func.count(User.id)).where(User.email.in_(emails))) == len(emails)


def is_empty(session: Session) -> bool:
    return session.scalar(select(func.count(User.id))) == 0


def load(session: Session, rules: settings.Rules, now: datetime, seed: int = 7) -> None:
    rng = random.Random(seed)
    departments = starter.create_starter_organisation(session)
    users = {}
    for name, email, role, department in ACCOUNTS:
        user = User(name=name, email=email, role=role.value, department_id=departments[department].id)
        user.set_password(DEMO_PASSWORD)
        users[email] = user
        session.add(user)
    session.commit()

    categories = {c.name: c for c in session.scalars(select(Category))}
    causes = list(session.scalars(select(RootCause).order_by(RootCause.id)))
    responder, lead = users["responder@example.com"], users["lead@example.com"]
    manager = users["manager@example.com"]
    for index in range(36):
        subject, category_name = SAMPLES[index % len(SAMPLES)]
        received = now - timedelta(hours=rng.randint(1, 240))
        customer = NAMES[index % len(NAMES)]
        filed = filing.file_ticket(
            session,
            filing.Intake(
                customer_name=customer,
                customer_email=f"customer{index}@example.org",
                subject=subject,
                description=f"{subject}. I would like this sorted out, please. (demo case {index + 1})",
                category_id=categories[category_name].id,
                consent=True,
                preferred_contact="email",
            ),
            [],
            now=received,
            rules=rules,
        )
        ticket: Ticket = filed.ticket
        stage = index % 6
        actor = manager if ticket.department_id != responder.department_id else rng.choice([responder, lead])
        later = received + timedelta(hours=2)
        if stage >= 1:
            tickets.claim(session, actor, ticket, now=later, rules=rules)
        if stage >= 2:
            tickets.reply(
                session,
                actor,
                ticket,
                "Thank you for telling us. We are looking into it and will update you.",
                now=later + timedelta(hours=1),
                rules=rules,
            )
            tickets.add_note(
                session, actor, ticket, "Checked the order history.", now=later + timedelta(hours=2)
            )
        if stage >= 4:
            resolutions.resolve_or_propose(
                session,
                actor,
                ticket,
                resolutions.ProposalInput(
                    summary="Faulty unit confirmed; replacement arranged.",
                    customer_reply="We have arranged a replacement and apologise for the trouble.",
                    outcome="repair_or_replacement",
                    root_cause_id=rng.choice(causes).id,
                ),
                now=later + timedelta(hours=5),
                rules=rules,
            )
        if stage >= 5:
            tickets.close(session, actor, ticket, now=later + timedelta(hours=30))
    _show_the_ladder(session, rules, now, responder, lead, categories["Product quality"].id)
    _history(session, rules, now, rng, users, categories, causes)
    filing.file_ticket(
        session,
        filing.Intake(
            kind="feedback",
            customer_name="Zhou Min",
            subject="Praise from the website",
            description="The installer was careful and friendly. Thank you!",
            feedback_kind="praise",
            rating=5,
        ),
        [],
        now=now - timedelta(hours=3),
        rules=rules,
    )


def _history(
    session: Session,
    rules: settings.Rules,
    now: datetime,
    rng: random.Random,
    users: dict[str, User],
    categories: dict[str, Category],
    causes: list[RootCause],
) -> None:
    """Three months of handled complaints, so the dashboard (R21) has trends, ratings and callbacks."""
    handlers = {
        users["responder@example.com"].department_id: [
            users["responder@example.com"],
            users["lead@example.com"],
        ],
    }
    manager = users["manager@example.com"]
    for index in range(70):
        subject, category_name = SAMPLES[(index * 7) % len(SAMPLES)]
        received = now - timedelta(days=10 + index * 1.2, hours=rng.randint(0, 8))
        filed = filing.file_ticket(
            session,
            filing.Intake(
                customer_name=NAMES[(index + 3) % len(NAMES)],
                customer_email=f"earlier{index}@example.org",
                subject=subject,
                description=f"{subject}. (demo history {index + 1})",
                category_id=categories[category_name].id,
                consent=True,
                channel=("web", "web", "web", "phone", "visit")[index % 5],
            ),
            [],
            now=received,
            rules=rules,
        )
        ticket = filed.ticket
        actor = rng.choice(handlers.get(ticket.department_id, [manager]))
        start = received + timedelta(hours=rng.choice((1, 2, 3, 5, 8, 20, 30)))
        tickets.claim(session, actor, ticket, now=start, rules=rules)
        tickets.reply(
            session, actor, ticket, "We are looking into it.", now=start + timedelta(hours=1), rules=rules
        )
        resolved_at = start + timedelta(hours=rng.choice((4, 10, 20, 30, 50, 70, 120)))
        resolutions.resolve_or_propose(
            session,
            actor,
            ticket,
            resolutions.ProposalInput(
                summary="Checked and put right.",
                customer_reply="We have put this right and apologise for the trouble.",
                outcome="explanation",
                root_cause_id=rng.choice(causes).id,
            ),
            now=resolved_at,
            rules=rules,
        )
        if ticket.status != "resolved":
            continue
        satisfied = rng.random() < 0.82
        aftercare.customer_answer(
            session,
            ticket,
            satisfied=satisfied,
            satisfaction=rng.choice((4, 5, 5)) if satisfied else rng.choice((1, 2)),
            comment=None,
            now=resolved_at + timedelta(hours=6),
            rules=rules,
        )
        callback = session.scalars(select(Callback).where(Callback.ticket_id == ticket.id)).first()
        if callback is not None and satisfied:
            reached = rng.random() < 0.85
            aftercare.record_callback(
                session,
                actor,
                callback,
                reached=reached,
                satisfied=reached and rng.random() < 0.9,
                notes="Called back." if reached else "No answer.",
                now=resolved_at + timedelta(hours=20),
            )


def _show_the_ladder(
    session: Session, rules: settings.Rules, now: datetime, responder: User, lead: User, category_id: int
) -> None:
    """A few cases that show the process at work: escalated, waiting for approval, a promise, serious."""

    def fresh(subject: str, hours_ago: int) -> Ticket:
        filed = filing.file_ticket(
            session,
            filing.Intake(
                customer_name="Chen Jing",
                customer_email="chen.jing@example.org",
                customer_phone="+8613800138000",
                subject=subject,
                description=f"{subject}. Please call me back. (demo)",
                category_id=category_id,
                consent=True,
            ),
            [],
            now=now - timedelta(hours=hours_ago),
            rules=rules,
        )
        tickets.claim(session, responder, filed.ticket, now=now - timedelta(hours=hours_ago - 1), rules=rules)
        return filed.ticket

    escalated = fresh("Oven door glass cracked while cooking", 30)
    ladder.escalate(
        session, responder, escalated, "Customer asks for a replacement oven; needs the lead.", now=now
    )

    waiting = fresh("Freezer failure spoiled a week of food", 50)
    resolutions.resolve_or_propose(
        session,
        lead,
        waiting,
        resolutions.ProposalInput(
            summary="Freezer fault confirmed by technician; compensate spoiled food.",
            customer_reply="We will refund CNY 800 for the spoiled food and repair the freezer this week.",
            outcome="compensation",
            amount_minor=80_000,
        ),
        now=now,
        rules=rules,
    )

    promised = fresh("Dishwasher error code E24", 5)
    tickets.reply(
        session,
        responder,
        promised,
        "We have asked the technician about code E24 and will update you by this afternoon.",
        now=now - timedelta(hours=1),
        rules=rules,
        promise_due=now + timedelta(hours=2),
    )

    serious = fresh("Sparks from the socket of a new heater", 3)
    ladder.mark_serious(session, responder, serious, "Possible fire hazard: safety issue.", now=now)
