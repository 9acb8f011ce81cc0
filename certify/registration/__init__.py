"""报名: who may sit an exam and who sits it — ID numbers (validated, encrypted, masked),
applications judged against the application conditions (申报条件), sittings and their rosters."""
