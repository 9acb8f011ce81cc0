"""The question bank (考核题库) and its papers: item files in and out (CSV, XLSX, JSON), validation
and versioning, sample and synthetic banks, blueprints, paper assembly (``assembly``: a plan of
cells, then a seeded search), frozen papers, per-candidate shuffles and printed papers.

It stands on ``certify.infra`` and ``schemas`` only; certify's services use it, never the other
way round (the import contracts in pyproject.toml hold this).
"""
