"""vlmtransfer: measure how finetuning a vision-language model on one task changes every other task.

The package is layered so that data flows one way::

    tasks -> data -> finetune -> evaluate -> store -> analysis -> report

with the CLI on top. ``vlmtransfer.analysis`` and ``vlmtransfer.report`` never import torch,
so users who only hold result tables can analyse them with a light install.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("vlmtransfer")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
