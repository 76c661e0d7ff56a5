"""``python -m vlmtransfer.cli``: the same as the ``vlmtransfer`` command."""

from vlmtransfer.cli.main import main

main()
