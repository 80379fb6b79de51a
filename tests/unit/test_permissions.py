"""Who may do what to which ticket: every role × relationship × action, answers written out by hand.

The actor always works in department 1 (id 7); the ticket is in department 1 or 2 and owned by the
actor, by a colleague (id 99) or by nobody. "recused" tickets are about the actor (R10).
"""

from __future__ import annotations

import itertools

import pytest

from portal.domain import permissions, workflow
from portal.domain.errors import NotPermitted
from portal.domain.permissions import Actor, Role, TicketFacts
from portal.domain.workflow import Action, Status

ME = 7
COLLEAGUE = 99
MY_DEPT = 1
OTHER_DEPT = 2

RELATIONSHIPS: dict[str, dict[str, int | None]] = {
    "owner": {"department_id": MY_DEPT, "owner_id": ME},
    "owner-after-transfer": {"department_id": OTHER_DEPT, "owner_id": ME},  # R6: ownership stays
    "same-dept-unowned": {"department_id": MY_DEPT, "owner_id": None},
    "same-dept-owned-by-colleague": {"department_id": MY_DEPT, "owner_id": COLLEAGUE},
    "other-dept-unowned": {"department_id": OTHER_DEPT, "owner_id": None},
    "other-dept-owned-by-colleague": {"department_id": OTHER_DEPT, "owner_id": COLLEAGUE},
    "recused": {"department_id": MY_DEPT, "owner_id": None, "concerns_user_id": ME},
    "recused-owner": {"department_id": MY_DEPT, "owner_id": ME, "concerns_user_id": ME},
}

# Building blocks of the expected answers (sets, so the table below reads as prose).
NOTHING: frozenset[Action] = frozenset()
SEE_AND_TALK = frozenset(
    {Action.VIEW, Action.NOTE, Action.REPLY, Action.ACKNOWLEDGE, Action.PROMISE, Action.MARK_SERIOUS}
)
CLAIM = frozenset({Action.CLAIM})
DECIDE = frozenset({Action.RESOLVE, Action.PROPOSE})
STEER = frozenset(
    {
        Action.RECATEGORISE,
        Action.REPRIORITISE,
        Action.TRANSFER,
        Action.ESCALATE,
        Action.PAUSE,
        Action.RESUME,
        Action.LINK_STAFF,
        Action.RECORD_CALLBACK,
        Action.REOPEN,
        Action.CLOSE,
    }
)
SIGN = frozenset({Action.APPROVE, Action.REJECT})
EXTEND = frozenset({Action.EXTEND})
SEND_BACK = frozenset({Action.SEND_BACK})
REPORT = frozenset({Action.REPORT_NONCOOPERATION})
NEVER_STAFF = frozenset(
    {Action.CUSTOMER_MESSAGE, Action.CUSTOMER_CONFIRM, Action.CUSTOMER_REOPEN, Action.AUTO_CLOSE}
)

EXPECTED: dict[tuple[Role, str], frozenset[Action]] = {
    # Responders see their department's tickets and the ones they own (R20).
    (Role.RESPONDER, "owner"): SEE_AND_TALK | DECIDE | STEER | REPORT,
    (Role.RESPONDER, "owner-after-transfer"): SEE_AND_TALK | DECIDE | STEER | REPORT,
    (Role.RESPONDER, "same-dept-unowned"): SEE_AND_TALK | CLAIM | DECIDE,  # R4, R6
    (Role.RESPONDER, "same-dept-owned-by-colleague"): SEE_AND_TALK,
    (Role.RESPONDER, "other-dept-unowned"): NOTHING,
    (Role.RESPONDER, "other-dept-owned-by-colleague"): NOTHING,
    (Role.RESPONDER, "recused"): NOTHING,
    (Role.RESPONDER, "recused-owner"): NOTHING,
    # Leads steer their own department's tickets; elsewhere they are plain staff (R9, R20).
    (Role.LEAD, "owner"): SEE_AND_TALK | DECIDE | STEER | SEND_BACK | REPORT,
    (Role.LEAD, "owner-after-transfer"): SEE_AND_TALK | DECIDE | STEER | REPORT,
    (Role.LEAD, "same-dept-unowned"): SEE_AND_TALK | CLAIM | DECIDE | STEER | EXTEND | SEND_BACK,
    (Role.LEAD, "same-dept-owned-by-colleague"): SEE_AND_TALK | DECIDE | STEER | EXTEND | SEND_BACK,
    (Role.LEAD, "other-dept-unowned"): NOTHING,
    (Role.LEAD, "other-dept-owned-by-colleague"): NOTHING,
    (Role.LEAD, "recused"): NOTHING,
    (Role.LEAD, "recused-owner"): NOTHING,
    # Managers see everything except what is about themselves (R10); they approve (R12).
    (Role.MANAGER, "owner"): SEE_AND_TALK | DECIDE | STEER | SIGN | SEND_BACK | REPORT,
    (Role.MANAGER, "owner-after-transfer"): SEE_AND_TALK | DECIDE | STEER | SIGN | SEND_BACK | REPORT,
    (Role.MANAGER, "same-dept-unowned"): SEE_AND_TALK | CLAIM | DECIDE | STEER | SIGN | EXTEND | SEND_BACK,
    (Role.MANAGER, "same-dept-owned-by-colleague"): SEE_AND_TALK | DECIDE | STEER | SIGN | EXTEND | SEND_BACK,
    (Role.MANAGER, "other-dept-unowned"): SEE_AND_TALK | CLAIM | DECIDE | STEER | SIGN | EXTEND | SEND_BACK,
    (Role.MANAGER, "other-dept-owned-by-colleague"): SEE_AND_TALK
    | DECIDE
    | STEER
    | SIGN
    | EXTEND
    | SEND_BACK,
    (Role.MANAGER, "recused"): NOTHING,
    (Role.MANAGER, "recused-owner"): NOTHING,
    # Administrators configure the portal and never read complaints (domain.md, R20).
    **{(Role.ADMIN, rel): NOTHING for rel in RELATIONSHIPS},
}


def actor(role: Role) -> Actor:
    return Actor(id=ME, role=role.value, department_id=MY_DEPT)


def ticket(relationship: str, status: Status = Status.IN_PROGRESS) -> TicketFacts:
    return TicketFacts(status=status.value, **RELATIONSHIPS[relationship])  # type: ignore[arg-type]


CASES = list(itertools.product(Role, RELATIONSHIPS, Action))


def test_expected_table_covers_every_role_and_relationship() -> None:
    assert set(EXPECTED) == set(itertools.product(Role, RELATIONSHIPS))


@pytest.mark.parametrize(
    ("role", "relationship", "action"), CASES, ids=[f"{r}-{rel}-{a}" for r, rel, a in CASES]
)
def test_can_answers_every_role_relationship_and_action_as_written(
    role: Role, relationship: str, action: Action
) -> None:
    assert permissions.can(actor(role), action, ticket(relationship)) is (
        action in EXPECTED[role, relationship]
    )


@pytest.mark.parametrize(("role", "relationship"), list(itertools.product(Role, RELATIONSHIPS)))
def test_can_view_agrees_with_the_view_column(role: Role, relationship: str) -> None:
    assert permissions.can_view(actor(role), ticket(relationship)) is (
        Action.VIEW in EXPECTED[role, relationship]
    )


@pytest.mark.parametrize("relationship", list(RELATIONSHIPS))
def test_admin_never_views_a_complaint_r20(relationship: str) -> None:
    admin = actor(Role.ADMIN)
    assert not permissions.can_view(admin, ticket(relationship))
    assert permissions.available_actions(admin, ticket(relationship)) == NOTHING


@pytest.mark.parametrize("role", [Role.RESPONDER, Role.LEAD, Role.MANAGER])
@pytest.mark.parametrize("owner_id", [None, ME, COLLEAGUE])
def test_person_complained_about_never_sees_it_whatever_their_role_r10(
    role: Role, owner_id: int | None
) -> None:
    about_me = TicketFacts(
        status=Status.IN_PROGRESS.value, department_id=MY_DEPT, owner_id=owner_id, concerns_user_id=ME
    )
    assert not permissions.can_view(actor(role), about_me)
    assert not any(permissions.can(actor(role), a, about_me) for a in Action)


def test_recusal_is_about_the_person_not_their_colleagues_r10() -> None:
    about_colleague = TicketFacts(status=Status.NEW.value, department_id=MY_DEPT, concerns_user_id=COLLEAGUE)
    assert permissions.can_view(actor(Role.RESPONDER), about_colleague)


@pytest.mark.parametrize("role", [Role.RESPONDER, Role.LEAD])
def test_staff_of_another_department_cannot_view_unless_they_own_it_r20_r6(role: Role) -> None:
    elsewhere = ticket("other-dept-owned-by-colleague")
    transferred_mine = ticket("owner-after-transfer")
    assert not permissions.can_view(actor(role), elsewhere)
    assert permissions.can_view(actor(role), transferred_mine)


@pytest.mark.parametrize("role", [Role.RESPONDER, Role.LEAD, Role.MANAGER])
def test_claim_only_while_nobody_owns_the_ticket_r6(role: Role) -> None:
    assert permissions.can(actor(role), Action.CLAIM, ticket("same-dept-unowned"))
    assert not permissions.can(actor(role), Action.CLAIM, ticket("same-dept-owned-by-colleague"))
    assert not permissions.can(actor(role), Action.CLAIM, ticket("owner"))


@pytest.mark.parametrize("role", [Role.RESPONDER, Role.LEAD, Role.MANAGER])
def test_anyone_who_can_view_an_unowned_ticket_may_resolve_it_r4(role: Role) -> None:
    assert permissions.can(actor(role), Action.RESOLVE, ticket("same-dept-unowned"))


@pytest.mark.parametrize(
    ("role", "allowed"),
    [(Role.RESPONDER, False), (Role.LEAD, True), (Role.MANAGER, True)],
    ids=["colleague-responder-may-not", "lead-of-department-may", "manager-may"],
)
def test_once_owned_only_owner_lead_of_department_or_manager_resolves_r4_r6(
    role: Role, allowed: bool
) -> None:
    assert permissions.can(actor(role), Action.RESOLVE, ticket("same-dept-owned-by-colleague")) is allowed
    assert permissions.can(actor(role), Action.RESOLVE, ticket("owner"))


def test_lead_of_another_department_has_no_lead_powers_r9() -> None:
    lead = actor(Role.LEAD)
    for action in (Action.SEND_BACK, Action.EXTEND, Action.TRANSFER, Action.RESOLVE, Action.CLOSE):
        assert not permissions.can(lead, action, ticket("other-dept-owned-by-colleague"))
    # Owning a ticket that moved to another department gives owner powers, not lead powers.
    transferred = ticket("owner-after-transfer")
    assert permissions.can(lead, Action.TRANSFER, transferred)
    assert not permissions.can(lead, Action.SEND_BACK, transferred)


@pytest.mark.parametrize("role", [Role.LEAD, Role.MANAGER])
def test_owner_cannot_approve_their_own_extension_r7(role: Role) -> None:
    assert not permissions.can(actor(role), Action.EXTEND, ticket("owner"))
    assert permissions.can(actor(role), Action.EXTEND, ticket("same-dept-owned-by-colleague"))


@pytest.mark.parametrize(
    ("role", "allowed"),
    [(Role.RESPONDER, False), (Role.LEAD, False), (Role.MANAGER, True), (Role.ADMIN, False)],
)
def test_only_managers_approve_or_reject_r12(role: Role, allowed: bool) -> None:
    for action in (Action.APPROVE, Action.REJECT):
        assert permissions.can(actor(role), action, ticket("same-dept-owned-by-colleague")) is allowed


@pytest.mark.parametrize("role", list(Role))
def test_customer_and_system_actions_are_never_a_staff_members(role: Role) -> None:
    for action in NEVER_STAFF:
        assert not permissions.can(actor(role), action, ticket("owner"))


# --- can_act / available_actions: the permission answer combined with the status table ---


def allowed_by_status(status: Status) -> frozenset[Action]:
    return frozenset(a for a in Action if (status, a) in workflow.TRANSITIONS)


COMBINED = list(itertools.product(Role, RELATIONSHIPS, Status))


@pytest.mark.parametrize(
    ("role", "relationship", "status"), COMBINED, ids=[f"{r}-{rel}-{s}" for r, rel, s in COMBINED]
)
def test_available_actions_are_what_the_role_may_do_and_the_status_allows(
    role: Role, relationship: str, status: Status
) -> None:
    facts = ticket(relationship, status)
    expected = EXPECTED[role, relationship] & allowed_by_status(status)
    assert permissions.available_actions(actor(role), facts) == expected
    for action in Action:
        assert permissions.can_act(actor(role), action, facts) is (action in expected)


@pytest.mark.parametrize(
    ("role", "relationship", "expected"),
    [
        pytest.param(
            Role.RESPONDER, "same-dept-owned-by-colleague", {Action.VIEW, Action.NOTE}, id="colleague"
        ),
        pytest.param(Role.LEAD, "other-dept-unowned", set(), id="lead-elsewhere"),
        pytest.param(Role.ADMIN, "owner", set(), id="admin"),
        pytest.param(Role.MANAGER, "recused", set(), id="recused-manager"),
        # R17: the owner (or a lead/manager) still records the follow-up call on a closed case.
        pytest.param(Role.RESPONDER, "owner", {Action.VIEW, Action.NOTE, Action.RECORD_CALLBACK}, id="owner"),
        pytest.param(
            Role.MANAGER,
            "other-dept-unowned",
            {Action.VIEW, Action.NOTE, Action.RECORD_CALLBACK},
            id="manager",
        ),
    ],
)
def test_a_closed_ticket_offers_nothing_but_view_and_note_apart_from_the_callback(
    role: Role, relationship: str, expected: set[Action]
) -> None:
    assert permissions.available_actions(actor(role), ticket(relationship, Status.CLOSED)) == expected


def test_a_new_unowned_ticket_offers_a_responder_claim_answer_and_resolve_r4_r6() -> None:
    assert permissions.available_actions(actor(Role.RESPONDER), ticket("same-dept-unowned", Status.NEW)) == {
        Action.VIEW,
        Action.NOTE,
        Action.REPLY,
        Action.ACKNOWLEDGE,
        Action.PROMISE,
        Action.MARK_SERIOUS,
        Action.CLAIM,
        Action.RESOLVE,
        Action.PROPOSE,
    }


def test_a_manager_may_sign_only_while_a_proposal_waits_r12() -> None:
    manager = actor(Role.MANAGER)
    waiting = ticket("same-dept-owned-by-colleague", Status.AWAITING_APPROVAL)
    assert permissions.can_act(manager, Action.APPROVE, waiting)
    assert not permissions.can_act(manager, Action.RESOLVE, waiting)
    in_progress = ticket("same-dept-owned-by-colleague", Status.IN_PROGRESS)
    assert not permissions.can_act(manager, Action.APPROVE, in_progress)


# --- reports and improvement actions (R20, R21) ----------------------------------------------


@pytest.mark.parametrize(
    ("actor", "requested", "scope"),
    [
        pytest.param(Actor(1, "manager", 2), None, None, id="a-manager-sees-everything"),
        pytest.param(Actor(1, "manager", 2), 5, 5, id="a-manager-may-narrow-to-a-department"),
        pytest.param(Actor(2, "lead", 3), None, 3, id="a-lead-sees-their-department"),
        pytest.param(Actor(2, "lead", 3), 3, 3, id="a-lead-asking-for-their-own"),
    ],
)
def test_report_department(actor: Actor, requested: int | None, scope: int | None) -> None:
    assert permissions.report_department(actor, requested) == scope


@pytest.mark.parametrize(
    ("actor", "requested"),
    [
        pytest.param(Actor(2, "lead", 3), 4, id="a-lead-asking-for-another-department"),
        pytest.param(Actor(3, "responder", 3), None, id="a-responder"),
        pytest.param(Actor(4, "admin", 3), None, id="an-administrator-reads-no-complaint-figures"),
    ],
)
def test_report_department_refusals(actor: Actor, requested: int | None) -> None:
    with pytest.raises(NotPermitted):
        permissions.report_department(actor, requested)


@pytest.mark.parametrize(
    ("actor", "department", "allowed"),
    [
        (Actor(1, "manager", 2), 7, True),
        (Actor(2, "lead", 3), 3, True),
        (Actor(2, "lead", 3), 4, False),
        (Actor(3, "responder", 3), 3, False),
        (Actor(4, "admin", 3), 3, False),
    ],
)
def test_who_steers_improvement_actions(actor: Actor, department: int, allowed: bool) -> None:
    assert permissions.can_manage_improvements(actor, department) is allowed
