# The folded name sorts and matches byte by byte (PostgreSQL: the "C" collation): a page sorted by
# name and a search by words no longer go through the locale's string comparison.

from django.db import migrations

import core.fields


class Migration(migrations.Migration):
    dependencies = [
        ("customers", "0003_search_and_counts"),
    ]

    operations = [
        migrations.AlterField(
            model_name="customer",
            name="name_folded",
            field=core.fields.ByteOrderCharField(
                blank=True, editable=False, help_text="See fold_name().", max_length=300
            ),
        ),
    ]
