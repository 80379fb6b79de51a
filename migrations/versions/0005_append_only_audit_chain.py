"""append-only audit log and ticket events, the audit hash chain (M2, R12, R20)

UPDATE and DELETE on `audit_log`, `event_redaction` and `ticket_event` are refused by triggers
on SQLite and PostgreSQL (and TRUNCATE on PostgreSQL). The one exception is retention's
anonymisation (R19): an UPDATE of a ticket event's texts is let through when an `event_redaction`
row names that event — itself append-only, and audited by the service that writes it.

Every audit row gets `prev_hash` and `row_hash` (SHA-256 over the previous row's hash and its own
content); the existing rows are chained here, in id order, with the same function the service
uses, so `flask audit-verify` passes on an upgraded database.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 17:30:00

"""
import hashlib
import json
from datetime import datetime

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

TEXT_COLUMNS_ONLY = (
    "NEW.id IS NOT OLD.id OR NEW.ticket_id IS NOT OLD.ticket_id OR NEW.at IS NOT OLD.at "
    "OR NEW.actor_id IS NOT OLD.actor_id OR NEW.actor_kind IS NOT OLD.actor_kind "
    "OR NEW.kind IS NOT OLD.kind OR NEW.is_public IS NOT OLD.is_public"
)

SQLITE = [
    *(
        f"CREATE TRIGGER {table}_no_{verb} BEFORE {verb.upper()} ON {table} "
        f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
        for table in ("audit_log", "event_redaction")
        for verb in ("update", "delete")
    ),
    "CREATE TRIGGER ticket_event_no_delete BEFORE DELETE ON ticket_event "
    "BEGIN SELECT RAISE(ABORT, 'ticket_event is append-only'); END",
    "CREATE TRIGGER ticket_event_redaction_only BEFORE UPDATE ON ticket_event "
    "WHEN NOT EXISTS (SELECT 1 FROM event_redaction r WHERE r.event_id = OLD.id) OR "
    + TEXT_COLUMNS_ONLY
    + " BEGIN SELECT RAISE(ABORT, 'ticket_event is append-only'); END",
]

POSTGRES = [
    """CREATE FUNCTION portal_refuse_rewrite() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION '% is append-only', TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
    END $$""",
    """CREATE FUNCTION portal_ticket_event_redaction_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF NOT EXISTS (SELECT 1 FROM event_redaction r WHERE r.event_id = OLD.id)
           OR NEW.id IS DISTINCT FROM OLD.id OR NEW.ticket_id IS DISTINCT FROM OLD.ticket_id
           OR NEW.at IS DISTINCT FROM OLD.at OR NEW.actor_id IS DISTINCT FROM OLD.actor_id
           OR NEW.actor_kind IS DISTINCT FROM OLD.actor_kind OR NEW.kind IS DISTINCT FROM OLD.kind
           OR NEW.is_public IS DISTINCT FROM OLD.is_public THEN
            RAISE EXCEPTION 'ticket_event is append-only' USING ERRCODE = 'insufficient_privilege';
        END IF;
        RETURN NEW;
    END $$""",
    *(
        f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
        "FOR EACH ROW EXECUTE FUNCTION portal_refuse_rewrite()"
        for table in ("audit_log", "event_redaction")
    ),
    "CREATE TRIGGER ticket_event_no_delete BEFORE DELETE ON ticket_event "
    "FOR EACH ROW EXECUTE FUNCTION portal_refuse_rewrite()",
    "CREATE TRIGGER ticket_event_redaction_only BEFORE UPDATE ON ticket_event "
    "FOR EACH ROW EXECUTE FUNCTION portal_ticket_event_redaction_only()",
    *(
        f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
        "FOR EACH STATEMENT EXECUTE FUNCTION portal_refuse_rewrite()"
        for table in ("audit_log", "event_redaction", "ticket_event")
    ),
]


def _row_hash(prev_hash, at, actor_id, action, target, outcome, request_id, ip):
    # Must match portal.services.audit.row_hash (a migration never imports the app's code).
    stamp = at.replace(tzinfo=None).isoformat(timespec="microseconds") if at is not None else None
    content = json.dumps(
        [prev_hash, stamp, actor_id, action, target, outcome, request_id, ip],
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(content.encode("utf-8")).hexdigest()


def upgrade():
    with op.batch_alter_table("audit_log") as batch:
        batch.add_column(sa.Column("prev_hash", sa.String(length=64), nullable=False, server_default=""))
        batch.add_column(sa.Column("row_hash", sa.String(length=64), nullable=False, server_default=""))
    op.create_table(
        "audit_chain",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("row_count", sa.Integer(), nullable=False),
        sa.Column("last_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "event_redaction",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(["actor_id"], ["user_account.id"]),
        sa.ForeignKeyConstraint(["event_id"], ["ticket_event.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("event_id"),
    )
    # Chain the rows that exist, oldest first, before the triggers forbid touching them.
    bind = op.get_bind()
    audit = sa.table(
        "audit_log",
        *(sa.column(name) for name in ("id", "at", "actor_id", "action", "target", "outcome", "request_id", "ip")),
        sa.column("prev_hash"),
        sa.column("row_hash"),
    )
    previous, count = "", 0
    rows = bind.execute(
        sa.select(
            audit.c.id, audit.c.at, audit.c.actor_id, audit.c.action, audit.c.target,
            audit.c.outcome, audit.c.request_id, audit.c.ip,
        ).order_by(audit.c.id)
    ).all()
    for row in rows:
        at = datetime.fromisoformat(row.at) if isinstance(row.at, str) else row.at
        digest = _row_hash(previous, at, row.actor_id, row.action, row.target, row.outcome, row.request_id, row.ip)
        bind.execute(audit.update().where(audit.c.id == row.id).values(prev_hash=previous, row_hash=digest))
        previous, count = digest, count + 1
    bind.execute(sa.text("INSERT INTO audit_chain (id, row_count, last_hash) VALUES (1, :rows, :last)"),
                 {"rows": count, "last": previous})
    for statement in POSTGRES if bind.dialect.name == "postgresql" else SQLITE:
        op.execute(statement)


def downgrade():
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        for table in ("audit_log", "event_redaction"):
            op.execute(f"DROP TRIGGER {table}_append_only ON {table}")
        for table in ("audit_log", "event_redaction", "ticket_event"):
            op.execute(f"DROP TRIGGER {table}_no_truncate ON {table}")
        op.execute("DROP TRIGGER ticket_event_no_delete ON ticket_event")
        op.execute("DROP TRIGGER ticket_event_redaction_only ON ticket_event")
        op.execute("DROP FUNCTION portal_ticket_event_redaction_only()")
        op.execute("DROP FUNCTION portal_refuse_rewrite()")
    else:
        for name in (
            "audit_log_no_update", "audit_log_no_delete", "event_redaction_no_update",
            "event_redaction_no_delete", "ticket_event_no_delete", "ticket_event_redaction_only",
        ):
            op.execute(f"DROP TRIGGER {name}")
    op.drop_table("event_redaction")
    op.drop_table("audit_chain")
    with op.batch_alter_table("audit_log") as batch:
        batch.drop_column("row_hash")
        batch.drop_column("prev_hash")
