"""PostgreSQL: a volunteer's commitments never overlap, enforced by the database.

`django.contrib.postgres` is not installed, so the exclusion constraint is raw
SQL. `int8range(volunteer_id, volunteer_id, '[]')` stands in for equality on
the volunteer: ranges have GiST operators built in, so btree_gist is not needed.
SQLite relies on IMMEDIATE transactions and the service's check under the
volunteer-profile lock.
"""

from __future__ import annotations

from django.db import migrations

COMMITTED = "('confirmed', 'checked_in', 'checked_out', 'verified')"

FORWARD = f"""
ALTER TABLE matching_assignment ADD CONSTRAINT assignment_no_overlap
EXCLUDE USING gist (
    int8range(volunteer_id, volunteer_id, '[]') WITH &&,
    tstzrange("start", "end", '[)') WITH &&
) WHERE (status IN {COMMITTED});
"""

BACKWARD = "ALTER TABLE matching_assignment DROP CONSTRAINT IF EXISTS assignment_no_overlap;"


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FORWARD)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BACKWARD)


class Migration(migrations.Migration):
    dependencies = [("matching", "0001_needs_shifts_assignments")]

    operations = [migrations.RunPython(forward, backward)]
