"""组卷: from a blueprint's counts to one table of cells (``plan``), then the search that
chooses items within them (``engine``, pure numpy)."""
