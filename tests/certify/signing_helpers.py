"""Keys, claims and tokens shared by the signing, certificate-PDF and issuance tests."""

from __future__ import annotations

from datetime import date
from typing import Any

from certify.keys.publish import build_trust_list
from certify.keys.store import create_key, signing_material
from certify.signing.algorithms import ALGORITHMS, DEFAULT, Algorithm, algorithm_named
from certify.signing.token import Claims, Kind, sign_token, token_url
from certify.signing.trust import TrustList, load_trust_list
from certify.signing.verify import RevocationList, load_revocation_list, sign_revocation_list
from tests.conftest import Database
from tests.helpers import institution

PASS = "correct horse battery staple"
TODAY = date.today()
OCCUPATIONS = ["ai", "bigdata", "smart_mfg"]
LEVELS = ["junior", "intermediate", "senior"]


def make_keys(
    database: Database,
    *,
    kinds: list[int],
    algorithm: Algorithm = DEFAULT,
    root_algorithm: Algorithm = DEFAULT,
) -> Database:
    """A provincial root key and one institution's key for ``kinds`` of certificate, each of
    the algorithm given."""
    create_key(
        database.engine,
        role="root",
        issuer="SD-HRSS",
        name="山东省人力资源和社会保障厅",
        passphrase=PASS,
        algorithm=root_algorithm,
    )
    institution(database.engine, "测试评价机构")
    create_key(
        database.engine,
        role="institution",
        issuer="SD-EVAL-01",
        name="测试评价机构",
        passphrase=PASS,
        scope={"kinds": kinds, "occupations": OCCUPATIONS, "levels": LEVELS},
        algorithm=algorithm,
    )
    return database


def claims(**changes: Any) -> Claims:
    """The claims of a senior 人工智能 certificate issued today, with ``changes``."""
    fields: dict[str, Any] = {
        "serial": "3726013000001",
        "kind": Kind.LEVEL,
        "holder": "欧阳小锋",
        "occupation": "ai",
        "level": "senior",
        "issued": TODAY,
        "issuer": "SD-EVAL-01",
    }
    fields.update(changes)
    return Claims(**fields)


def issue(database: Database, c: Claims, issuer: str = "SD-EVAL-01") -> str:
    """The verification URL of ``c`` signed with ``issuer``'s key from the database, under the
    key's own algorithm."""
    row, private = signing_material(database.engine, issuer, PASS)
    algorithm = algorithm_named(row.algorithm)
    return token_url("https://verify.example.cn", sign_token(c, private, row.public_key, algorithm))


def trust(database: Database) -> TrustList:
    """The trust list built from the database's keys, signed by the root and loaded back."""
    document = build_trust_list(database.engine, PASS)
    return load_trust_list(document, pinned_root_kid=document["root_kid"])


def fresh_revocations(
    database: Database, entries: list[dict[str, Any]] | None = None
) -> RevocationList:
    """A root-signed revocation list issued now (empty unless ``entries``), loaded back: what an
    offline verifier needs before it may call a certificate valid."""
    listed = trust(database)
    root = listed.keys[listed.root_kid]
    _, private = signing_material(database.engine, root.issuer, PASS)
    document = sign_revocation_list(entries or [], private, ALGORITHMS[root.alg])
    return load_revocation_list(document, listed)
