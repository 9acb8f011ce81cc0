"""The `certify` command's subcommands, one module per stage of the pipeline; `cli.py` assembles them."""
