"""证书: from a published pass list (公示) to a certificate anyone can check — publication and
objections, issuance with serials and signed tokens, the certificate PDF and its QR code,
revocation, and verification against the live register with its holder-check budget."""
