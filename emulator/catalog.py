"""The launched devices the emulator knows: its stand-in for Google's list of manufacturer and model
names.

Spellings are the devices' own ``android.os.Build.MANUFACTURER`` / ``Build.MODEL`` values, compared
case-sensitively as the API does (``samsung`` is right, ``Samsung`` is not). ChromeOS devices use the
names shown in the Google Admin console. The list is a sample of real launched devices, not Google's
full list: a model missing here is refused by the emulator even if Google would take it.
"""

from __future__ import annotations

# manufacturer -> models (Build.MODEL), with a few 8-digit TAC prefixes per model for seeded IMEIs.
ANDROID_MODELS: dict[str, dict[str, tuple[str, ...]]] = {
    "Google": {
        "Pixel 6": ("35224011", "35224012"),
        "Pixel 6a": ("35196352", "35196353"),
        "Pixel 7": ("35575131", "35575132"),
        "Pixel 7a": ("35897061", "35897062"),
        "Pixel 7 Pro": ("35575141", "35575142"),
        "Pixel 8": ("35760622", "35760623"),
        "Pixel 8 Pro": ("35760632", "35760633"),
        "Pixel 8a": ("35299711", "35299712"),
        "Pixel 9": ("35114582", "35114583"),
        "Pixel Tablet": (),
    },
    "samsung": {
        "SM-S911B": ("35064172", "35064173"),
        "SM-S916B": ("35064182", "35064183"),
        "SM-S918B": ("35064192", "35064193"),
        "SM-S921B": ("35033185", "35033186"),
        "SM-S928B": ("35033195", "35033196"),
        "SM-A546B": ("35213473", "35213474"),
        "SM-A556B": ("35089936", "35089937"),
        "SM-A346B": ("35213483", "35213484"),
        "SM-A256B": ("35089946",),
        "SM-G991B": ("35286511", "35286512"),
        "SM-G736B": ("35445812",),
        "SM-F946B": ("35301374",),
        "SM-F731B": ("35301384",),
        "SM-X200": (),
        "SM-X205": ("35874412",),
        "SM-T636B": ("35452613",),
    },
    "motorola": {
        "moto g54 5G": ("35117214", "35117215"),
        "moto g84 5G": ("35117224", "35117225"),
        "moto g73 5G": ("35263013",),
        "moto e13": ("35405114",),
        "motorola edge 40": ("35252914", "35252915"),
        "motorola edge 40 neo": ("35252924",),
    },
    "Zebra Technologies": {
        "TC52": ("35312810",),
        "TC57": ("35312820",),
        "TC21": ("35312830",),
        "TC26": ("35312840",),
        "TC58": ("35312850",),
    },
    "Honeywell": {
        "CT40": ("35461009",),
        "CT60": ("35461019",),
        "EDA52": ("35461029",),
    },
    "HMD Global": {
        "Nokia G21": ("35260430",),
        "Nokia XR20": ("35260440",),
        "Nokia G60 5G": ("35260450",),
    },
    "OnePlus": {
        "CPH2449": ("86247306",),
        "CPH2581": ("86247316",),
    },
    "Sony": {
        "XQ-DQ54": ("35489720",),
        "XQ-DC54": ("35489730",),
    },
    "Xiaomi": {
        "23021RAA2Y": ("86330905",),
        "2201117TG": ("86330915",),
    },
    "LENOVO": {
        "Lenovo TB-X606F": (),
        "Lenovo TB328FU": (),
    },
}

# Models without a cellular modem: registered by serial number (with manufacturer and model) only.
WIFI_ONLY_MODELS = frozenset(
    {
        ("LENOVO", "Lenovo TB-X606F"),
        ("LENOVO", "Lenovo TB328FU"),
        ("samsung", "SM-X200"),
        ("Google", "Pixel Tablet"),
    }
)

# ChromeOS devices: registered by serial number + model + attested device id.
CHROME_OS_MODELS: dict[str, tuple[str, ...]] = {
    "HP": ("HP Chromebook x360 14 G1", "HP Chromebook 14 G7", "HP Elite c640 14 inch G3 Chromebook"),
    "Acer": ("Acer Chromebook Spin 714", "Acer Chromebook 314", "Acer Chromebook Vero 514"),
    "Lenovo": ("Lenovo 300e Chromebook Gen 3", "Lenovo ThinkPad C14 Gen 1 Chromebook"),
    "Dell": ("Dell Latitude 5430 Chromebook", "Dell Chromebook 3110"),
    "ASUS": ("ASUS Chromebook Flip CX5", "ASUS Chromebook CX1"),
}

# Manufacturers of devices that use MEIDs (CDMA-capable models sold in the US).
MEID_MANUFACTURERS = ("samsung", "motorola", "Google")

ANDROID_MANUFACTURERS = frozenset(ANDROID_MODELS)
CHROME_OS_MANUFACTURERS = frozenset(CHROME_OS_MODELS)
MANUFACTURERS = ANDROID_MANUFACTURERS | CHROME_OS_MANUFACTURERS

_MODEL_OWNERS: dict[str, set[str]] = {}
for _maker, _models in ANDROID_MODELS.items():
    for _model in _models:
        _MODEL_OWNERS.setdefault(_model, set()).add(_maker)
for _maker, _chrome_models in CHROME_OS_MODELS.items():
    for _model in _chrome_models:
        _MODEL_OWNERS.setdefault(_model, set()).add(_maker)

CHROME_OS_MODEL_NAMES = frozenset(m for models in CHROME_OS_MODELS.values() for m in models)


def is_known_manufacturer(manufacturer: str) -> bool:
    return manufacturer in MANUFACTURERS


def is_known_model(model: str, manufacturer: str | None = None) -> bool:
    """True when ``model`` is a launched model (of ``manufacturer``, when given)."""
    owners = _MODEL_OWNERS.get(model)
    if not owners:
        return False
    return manufacturer is None or manufacturer in owners


def is_chrome_os_model(model: str) -> bool:
    return model in CHROME_OS_MODEL_NAMES
