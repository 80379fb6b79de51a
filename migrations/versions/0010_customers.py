"""customer records that complaints belong to

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 22:00:00

Placeholder reserving the revision number so parallel work chains in order; filled in by the
change that needs it.
"""

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
