"""Question banks in other systems' formats: GIFT, Moodle XML and QTI 3.0, in and out.

Each reader turns a file into the same unvalidated rows as certify's own CSV/XLSX/JSON
(:class:`question_bank.formats.RawItem`), so one validator and one import path serve every
format; what a format can say that certify's items cannot hold is reported on the row, by the
question's position and name. Each writer takes validated items and writes what its reader takes
back to the same items.
"""
