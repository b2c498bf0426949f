"""Small factories and constants shared by the client's tests."""

from zerotouch import DeviceIdentifier, RetryPolicy

PARTNER_ID = 1000001
REDIS_URL = "redis://127.0.0.1:6379/0"

#: Short backoff so that retry tests take milliseconds; the rules are the production ones.
FAST_RETRIES = RetryPolicy(initial_backoff=0.01, max_backoff=0.1, max_attempts=10)


def luhn_imei(body: str) -> str:
    """A valid IMEI: 14 digits plus their Luhn check digit."""
    total = 0
    for index, char in enumerate(reversed(body)):
        digit = int(char)
        if index % 2 == 0:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return body + str((10 - total % 10) % 10)


def make_pixel(serial: int) -> DeviceIdentifier:
    """A Pixel 8 the emulator has not seen (the seed draws its IMEIs elsewhere in the range)."""
    return DeviceIdentifier(imei=luhn_imei(f"357606229{serial:05d}"), manufacturer="Google", model="Pixel 8")
