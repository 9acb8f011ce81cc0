"""Infrastructure every domain package stands on: errors, the database and its migrations, the
hash-chained audit log, reading and writing the spreadsheets people send, PDF building blocks.
`question_bank` may import it too; it imports no domain package of certify."""
