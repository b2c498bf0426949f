"""URL path converters."""

from django.urls import register_converter

MAX_ID = 2**63 - 1  # the database's largest integer key


class IdConverter:
    """A positive 64-bit id in a path: anything longer or larger is no page (404), not an overflow."""

    regex = "[0-9]{1,19}"

    def to_python(self, value: str) -> int:
        number = int(value)
        if not 0 < number <= MAX_ID:
            raise ValueError(f"{value} is not a 64-bit id")
        return number

    def to_url(self, value: int) -> str:
        return str(value)


register_converter(IdConverter, "id")
