"""PostgreSQL only: the exclusion constraints that make double booking impossible.

`django.contrib.postgres` is not installed, so the constraints are plain SQL,
guarded by vendor; SQLite relies on IMMEDIATE transactions and the same checks
in the booking service. See resources/models.py for why own and shadow blocks
together exclude every overlap of an area with itself, its ancestors and its
descendants.
"""

from django.db import migrations

FORWARD = [
    "CREATE EXTENSION IF NOT EXISTS btree_gist",
    # own vs own on the same area
    """
    ALTER TABLE resources_spaceblock ADD CONSTRAINT block_no_overlap_own
    EXCLUDE USING gist (area_id WITH =, tstzrange("start", "end", '[)') WITH &&)
    WHERE (active AND kind = 0)
    """,
    # own vs shadow on the same area (kinds differ); shadow vs shadow is allowed
    """
    ALTER TABLE resources_spaceblock ADD CONSTRAINT block_no_overlap_own_shadow
    EXCLUDE USING gist (area_id WITH =, tstzrange("start", "end", '[)') WITH &&, kind WITH <>)
    WHERE (active)
    """,
]

BACKWARD = [
    "ALTER TABLE resources_spaceblock DROP CONSTRAINT IF EXISTS block_no_overlap_own_shadow",
    "ALTER TABLE resources_spaceblock DROP CONSTRAINT IF EXISTS block_no_overlap_own",
]


def forward(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for sql in FORWARD:
        schema_editor.execute(sql)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for sql in BACKWARD:
        schema_editor.execute(sql)


class Migration(migrations.Migration):
    dependencies = [("resources", "0001_spaces_reservations")]

    operations = [migrations.RunPython(forward, backward)]
