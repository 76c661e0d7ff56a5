"""``python -m vlmtransfer``: the command line."""

from vlmtransfer.cli.main import main

main()
