"""search documents and order numbers

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 22:00:00

Placeholder reserving the revision number so parallel work chains in order; filled in by the
change that needs it.
"""

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
