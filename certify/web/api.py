"""JSON API v1 (bearer token of a committee or admin account), described by
``schemas/openapi.json`` and served at ``/api/v1/openapi.json``.

``POST /api/v1/verify`` takes one ``{"token": …}`` or ``{"serial": …}`` (with an optional
``"id_number"``) and answers one result, or ``{"items": [...]}`` of up to 10,000 and answers
``{"results": [...]}`` in the same order. ``POST /api/v1/credentials`` takes ``{"id_number": …,
"name": …}`` and answers every credential of the holder with both. Every question about a holder's
ID number shares the account's budget (``certify.certificates.holders``). Errors have one shape (see ``certify.web``).
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

from flask import Blueprint, abort, g, jsonify, request

from certify.certificates.holders import HolderCheckRefused, lookup_credentials
from certify.certificates.verification import CheckRow, check_rows
from certify.entitlements.eligibility import EligibilityError
from certify.web.auth import current_account, require_role
from certify.web.common import trust

blueprint = Blueprint("api", __name__, url_prefix="/api/v1")
API_ROLES = ("committee", "admin")
MAX_ITEMS = 10_000
MAX_FIELD = 4_000


def openapi_document() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(
        resources.files("schemas").joinpath("openapi.json").read_text("utf-8")
    )
    return data


@blueprint.get("/openapi.json")
def openapi() -> Any:
    return jsonify(openapi_document())


def _limit(account: Any) -> None:
    """Each account's API requests per minute (per worker), so one client cannot take the
    server from every other."""
    if not g.services.limiter.allow(f"account:{account.id}", "api", g.services.api_per_minute):
        abort(429, description="too many API requests from this account: slow down")


def _body() -> dict[str, Any]:
    if not request.is_json:
        abort(415, description="send application/json")
    try:
        body = json.loads(request.get_data(cache=False) or b"null")
    except (ValueError, UnicodeDecodeError, RecursionError):
        abort(400, description="the body is not valid JSON (or nests too deeply)")
    if not isinstance(body, dict):
        abort(400, description="the body must be a JSON object")
    return body


def _unicode(value: str) -> str:
    """``value`` with any lone surrogate (valid JSON, yet no character) as U+FFFD: such a field
    then fails its own checks — an unreadable token, an unknown serial, an invalid ID number —
    and only its row fails."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "".join("\ufffd" if 0xD800 <= ord(c) <= 0xDFFF else c for c in value)
    return value


def _row(item: Any, where: str) -> CheckRow:
    if not isinstance(item, dict):
        abort(400, description=f"{where}: must be an object")
    unknown = set(item) - {"token", "serial", "id_number"}
    if unknown:
        abort(400, description=f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
    values = {}
    for name in ("token", "serial", "id_number"):
        value = item.get(name, "")
        if not isinstance(value, str) or len(value) > MAX_FIELD:
            abort(
                400,
                description=f"{where}.{name}: must be a string of at most {MAX_FIELD} characters",
            )
        values[name] = _unicode(value)
    if not values["token"].strip() and not values["serial"].strip():
        abort(400, description=f"{where}: give a token or a serial")
    return CheckRow(values["token"], values["serial"], values["id_number"])


@blueprint.post("/verify")
@require_role(*API_ROLES)
def verify() -> Any:
    _limit(current_account())
    body = _body()
    if "items" in body:
        items = body["items"]
        if set(body) != {"items"} or not isinstance(items, list):
            abort(400, description="items: must be the only field, a list")
        if not 1 <= len(items) <= MAX_ITEMS:
            abort(400, description=f"items: 1 to {MAX_ITEMS} per request, got {len(items)}")
        rows = [_row(item, f"items[{n}]") for n, item in enumerate(items)]
        return jsonify({"results": _check(rows)})
    return jsonify(_check([_row(body, "body")])[0])


def _check(rows: list[CheckRow]) -> list[dict[str, Any]]:
    account = current_account()
    assert account is not None
    return check_rows(
        g.engine,
        trust(),
        g.services.vault,
        rows,
        account_id=account.id,
        actor=f"api:{account.username}",
    )


@blueprint.post("/credentials")
@require_role(*API_ROLES)
def lookup() -> Any:
    """Every credential of one person, by ID number and name (both must belong to one holder),
    within the account's holder-check budget (429 when it is spent)."""
    account = current_account()
    assert account is not None and account.id is not None
    _limit(account)
    body = _body()
    id_number, name = body.get("id_number"), body.get("name")
    if (
        set(body) != {"id_number", "name"}
        or not isinstance(id_number, str)
        or not isinstance(name, str)
        or len(id_number) > 64
        or len(name) > 64
    ):
        abort(400, description="give exactly two fields, id_number and name, both strings")
    vault = g.services.vault
    if vault is None:
        abort(503, description="the ID-number secret is not configured (CERTIFY_SECRET_KEY)")
    try:
        found = lookup_credentials(
            g.engine,
            vault,
            _unicode(id_number),
            _unicode(name),
            account_id=account.id,
            actor=f"api:{account.username}",
        )
    except HolderCheckRefused as exc:
        abort(429, description=exc.diagnostics())
    except EligibilityError as exc:
        abort(400, description=exc.diagnostics())
    return jsonify({"credentials": [c.as_json() for c in found]})
