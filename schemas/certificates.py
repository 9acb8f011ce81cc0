"""Certificates as printed: what the certificate PDF shows."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict


class CertificateView(BaseModel):
    """One certificate ready to print (证书); the QR holds ``url``."""

    model_config = ConfigDict(frozen=True)

    serial: str
    kind_name: str
    """专业技术等级证书 or 培训合格证书."""
    holder: str
    id_number_masked: str
    occupation_name: str
    level_name: str
    issued: date
    expires: date | None = None
    issuer_name: str
    authority_name: str
    """The provincial authority whose trust list vouches for the issuer."""
    url: str
    """The upper-case verification URL with the signed token: the QR code's content."""
    verify_site: str
    """Where a reader verifies by hand, e.g. https://verify.example.cn."""
    signature_algorithm: str
    """The issuing key's algorithm as printed after 签名算法: ``Ed25519`` or ``SM2（SM3）``."""
