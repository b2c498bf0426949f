"""Realistic, deterministic data for a state file.

A seeded state holds the reseller, its customers (company names, owner and admin emails, terms
status, some with a Google Workspace account), vendors with customers of their own, and devices:
real launched models with valid IMEIs (Luhn), MEIDs, serial numbers, dual-SIM devices, ChromeOS
devices, claimed order by order (same ``ordernumber`` for one order) for the reseller's and the
vendors' customers, a pool of unclaimed devices, and a few devices claimed by a reseller the partner
can't see (to exercise "claimed by another customer"). The same ``random_seed`` gives the same data.
"""

from __future__ import annotations

import json
import random
import string
from itertools import accumulate

from . import catalog
from .claims import claim_document, device_document, metadata_text
from .identifiers import luhn_check_digit
from .rules import SIM_LOCK, ZERO_TOUCH
from .store import Store

FIRST_NAMES = (
    "Liz Darcy Jane Amara Noah Mateo Sofia Lukas Emma Hiroshi Priya Omar Chloe Jonas Ines Marta Tomasz "
    "Aisha Diego Elena Felix Hannah Ivan Julia Kenji Laura Mehmet Nina Oscar Paula Rafael Sara Tariq "
    "Ulrike Victor Wen Yusuf Zoe"
).split()
LAST_NAMES = (
    "Bennet Darcy Okafor Schmidt Rossi Tanaka Patel Haddad Martin Novak Silva Kowalski Nguyen Lindqvist "
    "Moreau Fischer Costa Jansen Dubois Kim Garcia Muller Brown Ivanova Sato Lopez Weber Hughes Nakamura"
).split()
NAME_WORDS = (
    "Harbor Summit Granite Maple Aurora Beacon Cobalt Meridian Northgate Pioneer Riverside Sterling "
    "Atlas Bluewater Cedar Evergreen Falcon Horizon Ironwood Juniper Keystone Lakeside Oakridge "
    "Redwood Silverline Trident Westbrook Zenith Alpine Brightwater"
).split()
INDUSTRIES = (
    "Logistics Health Retail Construction Energy Foods Security Transport Pharma Engineering Hospitality "
    "Telecom Insurance Manufacturing Couriers Facilities Rail Utilities Field Services Clinics"
).split()
LEGAL_FORMS = (
    ("Ltd", ".co.uk"),
    ("GmbH", ".de"),
    ("Inc.", ".com"),
    ("LLC", ".com"),
    ("SAS", ".fr"),
    ("B.V.", ".nl"),
    ("S.p.A.", ".it"),
    ("AB", ".se"),
    ("Pty Ltd", ".com.au"),
    ("Corp", ".com"),
)
VENDOR_SUFFIXES = ("Mobile Distribution", "Devices", "Telecom Partners", "Wireless", "Mobility Services")
# (prefix, digits that follow) of fictional-range mobile numbers in a few countries.
PHONE_FORMATS = (
    ("+1415555", 4),
    ("+4915112", 7),
    ("+447700900", 3),
    ("+33612", 6),
    ("+3161234", 5),
    ("+3934712", 6),
    ("+4670123", 5),
)

ALNUM = string.ascii_uppercase + string.digits
SERIAL_PREFIX = {
    "Google": "",
    "samsung": "R5",
    "motorola": "ZY2",
    "Zebra Technologies": "2",
    "Honeywell": "2",
    "HMD Global": "PN",
    "OnePlus": "",
    "Sony": "QV7",
    "Xiaomi": "",
    "LENOVO": "HA1",
    "HP": "5CD",
    "Acer": "NX",
    "Lenovo": "PF",
    "Dell": "",
    "ASUS": "N8N",
}


def _base36(number: int, width: int) -> str:
    digits = []
    while number:
        number, rest = divmod(number, 36)
        digits.append(ALNUM[(rest + 26) % 36])
    return "".join(reversed(digits)).rjust(width, "0")


class _Generator:
    """Random identifiers and names; draws with ``random()`` directly, which is several times faster
    than ``choice``/``randrange`` over a million devices."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.random = rng.random
        self.imei_bodies: set[str] = set()
        self.names: set[str] = set()
        android = [
            (m, model, tacs) for m, models in catalog.ANDROID_MODELS.items() for model, tacs in models.items()
        ]
        self.cellular = [entry for entry in android if entry[2]]
        self.wifi = [(m, model) for m, model, _ in android if (m, model) in catalog.WIFI_ONLY_MODELS]
        self.meid_models = [entry for entry in self.cellular if entry[0] in catalog.MEID_MANUFACTURERS]
        self.chrome = [(m, model) for m, models in catalog.CHROME_OS_MODELS.items() for model in models]

    def pick(self, items):
        return items[int(self.random() * len(items))]

    def company_name(self) -> tuple[str, str]:
        while True:
            word = self.rng.choice(NAME_WORDS)
            industry = self.rng.choice(INDUSTRIES)
            legal, tld = self.rng.choice(LEGAL_FORMS)
            name = f"{word} {industry} {legal}"
            if name not in self.names:
                self.names.add(name)
                return name, f"{word}{industry}".lower() + tld

    def person_email(self, domain: str) -> str:
        first, last = self.rng.choice(FIRST_NAMES), self.rng.choice(LAST_NAMES)
        return f"{first}.{last}@{domain}".lower()

    def imei(self, tacs: tuple[str, ...]) -> str:
        random_ = self.random
        for attempt in range(40):
            tac = self.pick(tacs) if attempt < 20 else f"35{int(random_() * 1e6):06d}"
            # Serial parts 900000-999999 are never drawn: tests use them for devices new to the API.
            body = f"{tac}{int(random_() * 900_000):06d}"
            if body not in self.imei_bodies:
                self.imei_bodies.add(body)
                return body + str(luhn_check_digit(body))
        raise RuntimeError("could not draw a fresh IMEI")  # pragma: no cover

    def serial(self, manufacturer: str, index: int) -> str:
        prefix = SERIAL_PREFIX.get(manufacturer, "")
        if manufacturer in ("Zebra Technologies", "Honeywell"):
            return f"{prefix}{int(self.random() * 1e5):05d}{index:08d}"
        return prefix + _base36(int(self.random() * 46656), 3) + _base36(index, 7)

    def device(self, index: int, meid_base: int) -> tuple:
        """(imei, imei2, meid, meid2, serial, manufacturer, model, device_type, attested_id)."""
        roll = self.random()
        if roll < 0.07:
            manufacturer, model = self.pick(self.chrome)
            serial = self.serial(manufacturer, index)
            return (None, None, None, None, serial, manufacturer, model, "DEVICE_TYPE_CHROME_OS", serial)
        if roll < 0.11:
            manufacturer, model = self.pick(self.wifi)
            return (None, None, None, None, self.serial(manufacturer, index), manufacturer, model, None, None)
        if roll < 0.15:
            manufacturer, model, _ = self.pick(self.meid_models)
            return (None, None, f"A1{meid_base + index:012X}", None, None, manufacturer, model, None, None)
        manufacturer, model, tacs = self.pick(self.cellular)
        imei = self.imei(tacs)
        imei2 = None
        if self.random() < 0.2:
            imei, imei2 = sorted((imei, self.imei(tacs)))
        serial = self.serial(manufacturer, index) if self.random() < 0.5 else None
        return (imei, imei2, None, None, serial, manufacturer, model, None, None)

    def phone_number(self) -> str:
        prefix, length = self.pick(PHONE_FORMATS)
        return prefix + f"{int(self.random() * 10**length):0{length}d}"


def seed(
    store: Store,
    partner_id: int,
    *,
    customers: int = 10,
    vendors: int = 2,
    devices: int = 1000,
    random_seed: int = 0,
    customers_per_vendor: int = 3,
    unclaimed_fraction: float = 0.1,
) -> dict:
    """Replace the state with generated data; a summary of what was made."""
    rng = random.Random(random_seed)
    gen = _Generator(rng)
    partner_id = int(partner_id)
    store.clear()
    used_ids = {partner_id}

    def fresh_id(low: int, high: int) -> int:
        while True:
            candidate = rng.randrange(low, high)
            if candidate not in used_ids:
                used_ids.add(candidate)
                return candidate

    def make_customer(owner: int) -> tuple:
        name, domain = gen.company_name()
        owners = sorted({gen.person_email(domain) for _ in range(rng.choice((1, 1, 2, 3)))})
        admins = sorted({gen.person_email(domain) for _ in range(rng.choice((0, 0, 1, 2)))} - set(owners))
        terms = rng.choices(
            ("TERMS_STATUS_ACCEPTED", "TERMS_STATUS_NOT_ACCEPTED", "TERMS_STATUS_STALE"), (7, 2, 1)
        )[0]
        workspace = tokens = None
        if rng.random() < 0.3:
            workspace = "C0" + "".join(rng.choice(string.ascii_lowercase + string.digits) for _ in range(7))
            tokens = json.dumps([f"{rng.randrange(10**9):09d}"])
        customer_id = fresh_id(1_000_000_000, 9_999_999_999)
        return (
            customer_id,
            owner,
            name,
            json.dumps(owners),
            json.dumps(admins),
            terms,
            "en-US",
            workspace,
            tokens,
        )

    partner_rows = [(partner_id, f"{rng.choice(NAME_WORDS)} Mobile Solutions", None)]
    vendor_ids = []
    for _ in range(vendors):
        vendor_id = fresh_id(1_000_000, 99_999_999)
        vendor_ids.append(vendor_id)
        partner_rows.append(
            (vendor_id, f"{rng.choice(NAME_WORDS)} {rng.choice(VENDOR_SUFFIXES)}", partner_id)
        )
    customer_rows = [make_customer(partner_id) for _ in range(customers)]
    vendor_customer_rows = [make_customer(v) for v in vendor_ids for _ in range(customers_per_vendor)]
    foreign_reseller = fresh_id(100_000_000, 999_999_999)
    foreign_customer = fresh_id(1_000_000_000, 9_999_999_999)

    # Owners to claim for, with a long tail: a few large customers and many small ones.
    owners = [(row[0], partner_id, row[7]) for row in customer_rows]
    owners += [(row[0], row[1], row[7]) for row in vendor_customer_rows]
    weights = list(accumulate(1.0 / (rank + 1) ** 0.8 for rank in range(len(owners))))
    vendor_share = 0.15 if vendor_customer_rows else 0.0
    reseller_owners = len(customer_rows)

    device_rows: list[tuple] = []
    claim_rows: list[tuple] = []
    first_id = 100_000_000_000 + rng.randrange(10**6) * 1000
    meid_base = rng.randrange(16**10)
    samples: dict[str, list[str]] = {"unclaimed": [], "claimedByAnotherReseller": []}
    index = 0
    order_number = rng.randrange(10**6)
    while index < devices:
        fate = rng.random()
        if fate < unclaimed_fraction or not owners:
            batch, owner = rng.randint(1, 50), None
        elif fate < unclaimed_fraction + 0.01:
            batch, owner = rng.randint(1, 5), (foreign_customer, foreign_reseller, None)
        else:
            batch = max(1, int(rng.lognormvariate(2.5, 1.2)))
            if vendor_share and rng.random() < vendor_share:
                owner = owners[reseller_owners + rng.randrange(len(owners) - reseller_owners)]
            elif reseller_owners:
                owner = owners[rng.choices(range(reseller_owners), cum_weights=weights[:reseller_owners])[0]]
            else:
                owner = owners[rng.randrange(len(owners))]
        order_number += rng.randint(1, 40)
        order = f"SO-{2023 + order_number % 3}-{order_number:07d}"
        order_metadata = metadata_text({"ordernumber": order})
        for _ in range(min(batch, devices - index)):
            device_id = first_id + index
            identifier = gen.device(index, meid_base)
            metadata = claims_doc = claims_resellers = None
            if owner is not None:
                entries = {"ordernumber": order}
                if identifier[0] and rng.random() < 0.6:
                    entries["phonenumber"] = gen.phone_number()
                metadata = metadata_text(entries) if len(entries) > 1 else order_metadata
                customer_id, reseller_id, workspace = owner
                if identifier[7] != "DEVICE_TYPE_CHROME_OS":
                    workspace = None
                # Sections in the order the backend stores them: zero-touch, then SIM lock.
                claims = [(device_id, ZERO_TOUCH, customer_id, workspace, reseller_id)]
                if identifier[0] and rng.random() < 0.02:
                    claims.append((device_id, SIM_LOCK, customer_id, None, reseller_id))
                claim_rows.extend(claims)
                claims_doc = ",".join(
                    claim_document(section, reseller_id, customer_id, workspace_id, None)
                    for _, section, _, workspace_id, _ in claims
                )
                claims_resellers = str(reseller_id)
                if reseller_id == foreign_reseller and len(samples["claimedByAnotherReseller"]) < 5:
                    samples["claimedByAnotherReseller"].append(str(device_id))
            elif len(samples["unclaimed"]) < 5:
                samples["unclaimed"].append(str(device_id))
            device_rows.append(
                (
                    device_id,
                    *identifier,
                    metadata,
                    device_document(identifier, metadata),
                    claims_doc,
                    claims_resellers,
                    0,
                )
            )
            index += 1

    with store.bulk_load() as conn:
        conn.executemany("INSERT INTO partners VALUES (?, ?, ?)", partner_rows)
        conn.executemany(
            "INSERT INTO customers (customer_id, partner_id, company_name, owner_emails, admin_emails,"
            " terms_status, language_code, workspace_customer_id, workspace_tokens)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            customer_rows + vendor_customer_rows,
        )
        conn.executemany(
            "INSERT INTO devices VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", device_rows
        )
        conn.executemany(
            "INSERT INTO claims (device_id, section_type, owner_company_id, workspace_customer_id,"
            " reseller_id) VALUES (?, ?, ?, ?, ?)",
            claim_rows,
        )
        conn.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES ('seed', ?)",
            (json.dumps({"partnerId": partner_id, "randomSeed": random_seed, "devices": devices}),),
        )
    return {
        "partnerId": str(partner_id),
        "customerIds": [str(row[0]) for row in customer_rows],
        "vendors": [
            {
                "companyId": str(vendor_id),
                "companyName": name,
                "customerIds": [str(row[0]) for row in vendor_customer_rows if row[1] == vendor_id],
            }
            for vendor_id, name, _ in partner_rows[1:]
        ],
        "devices": len(device_rows),
        "claims": len(claim_rows),
        "samples": samples,
    }
