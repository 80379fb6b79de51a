"""per-language names for categories and departments

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 22:00:00

Placeholder reserving the revision number so parallel work chains in order; filled in by the
change that needs it.
"""

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
