"""daily rollup of closed-day figures for the dashboard

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 22:00:00

Placeholder reserving the revision number so parallel work chains in order; filled in by the
change that needs it.
"""

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
