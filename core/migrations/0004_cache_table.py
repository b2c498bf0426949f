from django.core.management import call_command
from django.db import migrations

# The table of settings.CACHES' database cache (used when the broker is not Redis). Created whatever
# the settings say today, so switching the broker away from Redis later finds it in place.
CACHE_TABLE = "portal_cache"


def create_cache_table(apps, schema_editor):
    call_command("createcachetable", CACHE_TABLE, database=schema_editor.connection.alias, verbosity=0)


def drop_cache_table(apps, schema_editor):
    schema_editor.execute(f"DROP TABLE IF EXISTS {schema_editor.quote_name(CACHE_TABLE)}")


class Migration(migrations.Migration):
    """Django's database cache table, so every process (web, worker) shares one cache without Redis."""

    dependencies = [("portal", "0003_audit_no_op")]

    operations = [migrations.RunPython(create_cache_table, drop_cache_table)]
