from django import template

register = template.Library()


@register.filter
def cell(value: object) -> str:
    """A table cell as shown: whole numbers with thousands separators, the rest as it is."""
    if isinstance(value, bool) or not isinstance(value, int):
        return "" if value is None else str(value)
    return f"{value:,}"
