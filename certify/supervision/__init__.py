"""监督检查: what the human-resources departments do on the platform — 双随机 draws anyone can
re-run (``draw``), and the plans and populations they are made from (``inspections``)."""
