import pytest

from emulator.errors import InvalidArgument, NotFound, PermissionDenied
from emulator.seeding import seed

from .conftest import PARTNER_ID, make_customer

PARENT = f"partners/{PARTNER_ID}"
XYZ = {"companyName": "XYZ Corp", "ownerEmails": ["liz@example.com"]}


def test_create_customer_returns_the_company_with_its_resource_name(backend):
    company = backend.create_customer(
        PARENT,
        {
            "customer": {
                "companyName": "XYZ Corp",
                "ownerEmails": ["liz@example.com", "darcy@example.com"],
                "adminEmails": ["jane@example.com"],
            }
        },
    )
    assert company["companyName"] == "XYZ Corp"
    assert company["name"] == f"{PARENT}/customers/{company['companyId']}"
    assert company["ownerEmails"] == ["liz@example.com", "darcy@example.com"]
    assert company["adminEmails"] == ["jane@example.com"]
    assert company["termsStatus"] == "TERMS_STATUS_NOT_ACCEPTED"
    assert backend.list_customers(str(PARTNER_ID))["customers"] == [company]


@pytest.mark.parametrize(
    ("customer", "reason"),
    [
        ({"ownerEmails": ["liz@example.com"]}, "COMPANY_NAME_REQUIRED"),
        ({"companyName": "   ", "ownerEmails": ["liz@example.com"]}, "COMPANY_NAME_REQUIRED"),
        ({"companyName": "XYZ Corp"}, "OWNER_EMAIL_REQUIRED"),
        ({"companyName": "XYZ Corp", "ownerEmails": []}, "OWNER_EMAIL_REQUIRED"),
        ({"companyName": "XYZ Corp", "ownerEmails": ["liz"]}, "INVALID_EMAIL"),
        ({"companyName": "XYZ Corp", "ownerEmails": ["liz@gmail.com"]}, "PERSONAL_ACCOUNT_NOT_ALLOWED"),
        ({**XYZ, "adminEmails": ["jo@GoogleMail.com"]}, "PERSONAL_ACCOUNT_NOT_ALLOWED"),
        ({**XYZ, "languageCode": "xx"}, "INVALID_LANGUAGE_CODE"),
    ],
)
def test_create_customer_refuses_incomplete_or_personal_accounts(backend, customer, reason):
    with pytest.raises(InvalidArgument) as caught:
        backend.create_customer(PARENT, {"customer": customer})
    assert caught.value.reason == reason
    assert caught.value.code == 400
    assert backend.list_customers(str(PARTNER_ID)) == {}


def test_create_customer_for_another_partner_is_permission_denied(backend):
    with pytest.raises(PermissionDenied) as caught:
        backend.create_customer(
            "partners/999", {"customer": {"companyName": "X", "ownerEmails": ["a@b.com"]}}
        )
    assert caught.value.code == 403


def test_customers_list_without_page_size_returns_all_and_pages_with_it(backend):
    ids = [make_customer(backend, f"Company {n}") for n in range(5)]
    everything = backend.list_customers(str(PARTNER_ID))
    assert [c["companyId"] for c in everything["customers"]] == ids
    assert everything["totalSize"] == 5
    assert "nextPageToken" not in everything

    seen, token = [], None
    while True:
        page = backend.list_customers(str(PARTNER_ID), page_size=2, page_token=token)
        assert len(page["customers"]) <= 2
        assert page["totalSize"] == 5
        seen += [c["companyId"] for c in page["customers"]]
        token = page.get("nextPageToken")
        if not token:
            break
    assert seen == ids


def test_a_page_token_is_tied_to_its_query(backend):
    for n in range(3):
        make_customer(backend, f"Company {n}")
    token = backend.list_customers(str(PARTNER_ID), page_size=1)["nextPageToken"]
    with pytest.raises(InvalidArgument, match="page token"):
        backend.list_customers(str(PARTNER_ID), page_size=2, page_token=token)
    with pytest.raises(InvalidArgument, match="page token"):
        backend.list_customers(str(PARTNER_ID), page_size=1, page_token="garbage")


def test_vendors_and_their_customers_are_listed_apart_from_the_resellers(backend):
    summary = seed(backend.store, PARTNER_ID, customers=3, vendors=2, devices=0, customers_per_vendor=2)
    backend.forget_cached_state()
    vendors = backend.list_vendors(PARENT)["vendors"]
    assert [v["companyId"] for v in vendors] == sorted((v["companyId"] for v in summary["vendors"]), key=int)
    vendor = vendors[0]
    assert vendor["name"] == f"{PARENT}/vendors/{vendor['companyId']}"
    assert set(vendor) == {"name", "companyId", "companyName"}

    listed = backend.list_vendor_customers(vendor["name"])
    expected = next(v for v in summary["vendors"] if v["companyId"] == vendor["companyId"])["customerIds"]
    assert sorted(c["companyId"] for c in listed["customers"]) == sorted(expected)
    assert all(c["name"].startswith(vendor["name"] + "/customers/") for c in listed["customers"])
    own = {c["companyId"] for c in backend.list_customers(str(PARTNER_ID))["customers"]}
    assert own == set(summary["customerIds"])


def test_an_unknown_vendor_is_not_found(backend):
    with pytest.raises(NotFound):
        backend.list_vendor_customers(f"{PARENT}/vendors/42")
    with pytest.raises(PermissionDenied):
        backend.list_vendor_customers("partners/1/vendors/42")


def test_page_size_must_not_be_negative(backend):
    with pytest.raises(InvalidArgument):
        backend.list_customers(str(PARTNER_ID), page_size=-1)
