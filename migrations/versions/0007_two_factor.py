"""two-step sign-in: TOTP columns on user_account, single-use recovery codes (ASVS 2.8, 2.6, 4.3.1)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05 10:00:00

Written by hand. Every new column is nullable, so adding them is a plain ALTER TABLE ... ADD
COLUMN on SQLite and PostgreSQL alike (no table rebuild); names follow the naming convention in
portal/extensions.py.
"""
from alembic import op
import sqlalchemy as sa

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("user_account", sa.Column("totp_secret", sa.String(length=255), nullable=True))
    op.add_column("user_account", sa.Column("totp_pending_secret", sa.String(length=255), nullable=True))
    op.add_column("user_account", sa.Column("totp_last_step", sa.Integer(), nullable=True))
    op.add_column("user_account", sa.Column("totp_enabled_at", sa.DateTime(), nullable=True))
    op.create_table(
        "recovery_code",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("salt", sa.String(length=32), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("used_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user_account.id"], name=op.f("fk_recovery_code_user_id_user_account")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recovery_code")),
    )
    op.create_index(op.f("ix_recovery_code_user_id"), "recovery_code", ["user_id"], unique=False)


def downgrade():
    op.drop_index(op.f("ix_recovery_code_user_id"), table_name="recovery_code")
    op.drop_table("recovery_code")
    op.drop_column("user_account", "totp_enabled_at")
    op.drop_column("user_account", "totp_last_step")
    op.drop_column("user_account", "totp_pending_secret")
    op.drop_column("user_account", "totp_secret")
