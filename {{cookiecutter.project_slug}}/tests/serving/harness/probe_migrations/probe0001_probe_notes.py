"""The database tests' own first revision: the release step's machinery is tested
with it in place of the app's revisions, whatever tables the app has."""

from alembic import op

revision = "probe0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.execute("CREATE TABLE probe_notes (id serial PRIMARY KEY, body text NOT NULL)")


def downgrade():
    op.execute("DROP TABLE probe_notes")
