"""审计: anchoring the hash-chained audit log (``certify.infra.audit_log``) — signed checkpoints,
their verification, and what a verifier remembers between runs."""
