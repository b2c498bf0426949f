"""Model fields the apps share."""

from django.db import models


class ByteOrderCharField(models.CharField):
    """A CharField compared byte by byte on every database.

    Prefix search runs as a range (``value >= 'abc' AND value < 'abc\\uffff'``) or a ``LIKE 'abc%'``
    on a plain b-tree index, and a sort by it is a byte comparison. That is only correct (and fast)
    when strings sort by their code points: SQLite's default (BINARY) does, PostgreSQL's locale
    collations do not (they skip punctuation, fold case, and compare through the C library), so on
    PostgreSQL the column gets the "C" collation.
    """

    def db_parameters(self, connection):
        parameters = super().db_parameters(connection)
        if connection.vendor == "postgresql":
            parameters["collation"] = "C"
        return parameters
