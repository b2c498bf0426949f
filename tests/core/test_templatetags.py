"""The portal's template filters."""

from types import SimpleNamespace

from core.templatetags.portal_tags import count, make_model


def test_a_model_that_starts_with_its_maker_does_not_say_the_maker_twice():
    assert make_model(SimpleNamespace(manufacturer="HP", model="HP Elite Dragonfly")) == "HP Elite Dragonfly"
    assert make_model(SimpleNamespace(manufacturer="Google", model="Pixel 8")) == "Google Pixel 8"
    assert make_model(SimpleNamespace(manufacturer="HP", model="HPE Phone")) == "HP HPE Phone"
    assert make_model(SimpleNamespace(manufacturer="", model="Pixel 8")) == "Pixel 8"
    assert make_model(SimpleNamespace(manufacturer="samsung", model="")) == "samsung"


def test_whole_numbers_are_shown_with_thousands_separated():
    assert count(1234567) == "1,234,567" and count(12) == "12" and count(None) == ""
