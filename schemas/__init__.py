"""Data shapes of certify: enums, reference data, table models and file-format schemas.

Nothing here imports ``question_bank`` or ``certify``; every other package builds on these shapes.
"""
