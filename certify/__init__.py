"""certify: exam and certification engine for the Digital Technology Engineer programme.

This package holds the database session, the audit log, errors, and (as they land) grading,
signing, issuance, eligibility and the web app. Question-bank work lives in ``question_bank``.
"""

__version__ = "0.1.0"
