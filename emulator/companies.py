"""Customers and vendors (the API's ``Company`` resources): partners.customers.*, partners.vendors.*."""

from __future__ import annotations

import json
import re

from . import pages
from .errors import InvalidArgument, NotFound
from .rules import int64, list_page_size, next_id

LANGUAGE_CODES = frozenset(
    "ar zh-HK zh-CN zh-TW cs da nl en-GB en-US fil fi fr de iw hi hu id it ja ko no pl pt-BR pt-PT "
    "ru es es-419 sv th tr uk vi".split()
)
PERSONAL_EMAIL_DOMAINS = frozenset({"gmail.com", "googlemail.com"})
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
CUSTOMER_COLUMNS = (
    "customer_id, company_name, owner_emails, admin_emails, terms_status,"
    " workspace_customer_id, workspace_tokens"
)


class CompaniesApi:
    """The customer and vendor methods of :class:`emulator.backend.Backend` (mixed into it)."""

    def _customer_json(self, row, name_prefix: str) -> dict:
        customer_id, company_name, owners, admins, terms, workspace, tokens = row
        company = {
            "name": f"{name_prefix}/customers/{customer_id}",
            "companyId": str(customer_id),
            "companyName": company_name,
        }
        if owners != "[]":
            company["ownerEmails"] = json.loads(owners)
        if admins != "[]":
            company["adminEmails"] = json.loads(admins)
        company["termsStatus"] = terms
        if workspace:
            account = {"customerId": workspace}
            if tokens:
                account["preProvisioningTokens"] = json.loads(tokens)
            company["googleWorkspaceAccount"] = account
        return company

    def create_customer(self, parent: str, body: dict) -> dict:
        """partners.customers.create: a new customer of the reseller.

        ``companyName`` is required (and can't be changed later, so there is no update method);
        at least one owner email; every email must look like an address and personal Gmail
        addresses are refused (the API wants corporate addresses tied to a Google Account). Company
        names need not be unique, as with Google. ``languageCode`` is checked against the documented
        list. Output-only fields sent in the request (``companyId``, ``name``, ``termsStatus``) are
        ignored. A new customer's ``termsStatus`` is ``TERMS_STATUS_NOT_ACCEPTED``.
        """
        partner_id = self._check_parent(parent)
        customer = body.get("customer")
        if not customer:
            raise InvalidArgument("customer is required.", reason="CUSTOMER_REQUIRED")
        name = (customer.get("companyName") or "").strip()
        if not name:
            raise InvalidArgument("customer.companyName is required.", reason="COMPANY_NAME_REQUIRED")
        if len(name) > 255:
            raise InvalidArgument("customer.companyName is longer than 255 characters.")
        owners = [e.strip() for e in customer.get("ownerEmails") or [] if e.strip()]
        admins = [e.strip() for e in customer.get("adminEmails") or [] if e.strip()]
        if not owners:
            raise InvalidArgument(
                "customer.ownerEmails needs at least one email address.", reason="OWNER_EMAIL_REQUIRED"
            )
        for email in owners + admins:
            if not _EMAIL.fullmatch(email):
                raise InvalidArgument(f"'{email}' is not a valid email address.", reason="INVALID_EMAIL")
            if email.rsplit("@", 1)[1].lower() in PERSONAL_EMAIL_DOMAINS:
                raise InvalidArgument(
                    f"'{email}' is a personal Gmail account: customer owners and admins need a corporate "
                    "email address associated with a Google Account.",
                    reason="PERSONAL_ACCOUNT_NOT_ALLOWED",
                )
        language = customer.get("languageCode")
        if language and language not in LANGUAGE_CODES:
            raise InvalidArgument(f"Unsupported languageCode '{language}'.", reason="INVALID_LANGUAGE_CODE")
        with self.store.write() as conn:
            customer_id = next_id(conn, "customers", "customer_id", 100_000_000)
            conn.execute(
                "INSERT INTO customers (customer_id, partner_id, company_name, owner_emails, admin_emails,"
                " terms_status, language_code) VALUES (?, ?, ?, ?, ?, 'TERMS_STATUS_NOT_ACCEPTED', ?)",
                (customer_id, partner_id, name, json.dumps(owners), json.dumps(admins), language),
            )
        row = (
            customer_id,
            name,
            json.dumps(owners),
            json.dumps(admins),
            "TERMS_STATUS_NOT_ACCEPTED",
            None,
            None,
        )
        return self._customer_json(row, f"partners/{partner_id}")

    def _list(
        self, *, table: str, columns: str, owner: tuple[str, int], page_size, page_token, field: str, to_json
    ) -> dict:
        """One page of a ``*.list`` method: the rows of ``table`` whose ``owner`` column holds the
        given id, by the first of ``columns`` (their id). ``pageSize`` absent or 0 means all rows."""
        size = list_page_size(page_size)
        owner_column, owner_id = owner
        key = columns.split(",")[0]
        fingerprint = pages.fingerprint(table, owner_id, size)
        after = pages.decode(page_token, fingerprint, 1)[0] if page_token else 0
        with self.store.read() as conn:
            rows = conn.execute(
                f"SELECT {columns} FROM {table} WHERE {owner_column} = ? AND {key} > ?"  # noqa: S608 - constants
                f" ORDER BY {key} LIMIT ?",
                (owner_id, after, size + 1 if size else -1),
            ).fetchall()
            total = conn.execute(
                f"SELECT COUNT(*) FROM {table} WHERE {owner_column} = ?",  # noqa: S608 - constants
                (owner_id,),
            ).fetchone()[0]
        page = rows[:size] if size else rows
        response: dict = {}
        if page:
            response[field] = [to_json(row) for row in page]
        if len(page) < len(rows):
            response["nextPageToken"] = pages.encode(fingerprint, page[-1][0])
        if total:
            response["totalSize"] = total
        return response

    def _list_customers(self, owner_partner: int, name_prefix: str, page_size, page_token) -> dict:
        return self._list(
            table="customers",
            columns=CUSTOMER_COLUMNS,
            owner=("partner_id", owner_partner),
            page_size=page_size,
            page_token=page_token,
            field="customers",
            to_json=lambda row: self._customer_json(row, name_prefix),
        )

    def list_customers(self, partner_id: str, page_size=None, page_token: str | None = None) -> dict:
        """partners.customers.list: the reseller's own customers (not its vendors'), by id.

        Without ``pageSize`` (or with 0) every customer comes back in one response.
        """
        partner = self._check_partner(partner_id)
        return self._list_customers(partner, f"partners/{partner}", page_size, page_token)

    def list_vendors(self, parent: str, page_size=None, page_token: str | None = None) -> dict:
        """partners.vendors.list: the reseller's vendors (``name``, ``companyId``, ``companyName``)."""
        partner = self._check_parent(parent)
        return self._list(
            table="partners",
            columns="partner_id, company_name",
            owner=("parent_id", partner),
            page_size=page_size,
            page_token=page_token,
            field="vendors",
            to_json=lambda row: {
                "name": f"partners/{partner}/vendors/{row[0]}",
                "companyId": str(row[0]),
                "companyName": row[1],
            },
        )

    def list_vendor_customers(self, parent: str, page_size=None, page_token: str | None = None) -> dict:
        """partners.vendors.customers.list: the customers of one of the reseller's vendors.

        A vendor id that is not one of this reseller's vendors is 404 NOT_FOUND.
        """
        match = re.fullmatch(r"partners/([^/]+)/vendors/([^/]+)", parent or "")
        if not match:
            raise InvalidArgument(
                f"Invalid parent '{parent}': expected partners/[PARTNER_ID]/vendors/[VENDOR_ID]."
            )
        partner = self._check_partner(match.group(1), "parent")
        vendor = int64(match.group(2), "parent")
        if vendor not in self.visible_resellers()[1:]:
            raise NotFound(f"Vendor {vendor} not found.", reason="VENDOR_NOT_FOUND")
        return self._list_customers(vendor, f"partners/{partner}/vendors/{vendor}", page_size, page_token)
