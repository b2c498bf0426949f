from django import template

from core.roles import person_name

register = template.Library()


@register.simple_tag(takes_context=True)
def query(context, **changes) -> str:
    """The current query string with ``changes`` applied (a value of None or "" drops the key)."""
    params = context["request"].GET.copy()
    for key, value in changes.items():
        if value in (None, ""):
            params.pop(key, None)
        else:
            params[key] = value
    encoded = params.urlencode()
    return f"?{encoded}" if encoded else "?"


@register.filter
def duration(value) -> str:
    """A timedelta in words a person reads at a glance: "45 s", "3 min 5 s", "2 h 10 min"."""
    if value is None:
        return ""
    seconds = max(0, round(value.total_seconds()))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s" if seconds else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


@register.filter
def count(value) -> str:
    """A whole number with thousands separated by commas ("12,345"): what ``floatformat:"0g"`` prints
    in the portal's English locale, at a small part of its cost in long tables."""
    try:
        return f"{int(value):,}"
    except (TypeError, ValueError):
        return ""


@register.filter
def person(user) -> str:
    """``core.roles.person_name``: a full name, else the user name ('' for no one, so that
    ``|default:`` can say who else it was)."""
    return person_name(user)


@register.filter
def make_model(thing) -> str:
    """A device's (or row's) manufacturer and model as one name, without saying the maker twice
    when the model already starts with it ("HP" and "HP Elite Dragonfly": "HP Elite Dragonfly")."""
    maker = (getattr(thing, "manufacturer", "") or "").strip()
    model = (getattr(thing, "model", "") or "").strip()
    if maker and model.casefold().startswith(maker.casefold() + " "):
        return model
    return " ".join(part for part in (maker, model) if part)
