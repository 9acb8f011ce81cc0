"""certify: exam and certification engine for the Digital Technology Engineer programme.

Domain packages, each owning its tables' rows and the services over them: ``registration``
(ID numbers, applications, sittings), ``grading`` (scoring cores, answer sheets, marks,
statistics), ``signing`` (algorithms, tokens, trust lists, offline verification),
``certificates`` (publication, issuance, PDFs, revocation, live verification), ``entitlements``
(eligibility records, training), ``audit`` (checkpoints of the audit log) and ``accounts``.
They stand on ``infra`` (database, audit log, spreadsheets, PDF parts, errors); the shells
``web`` and ``commands`` only parse, call and render. Item banks and papers live in
``question_bank``. The layers are written down in docs/architecture.md and enforced by the
import-linter contracts in pyproject.toml.
"""

__version__ = "0.1.0"
