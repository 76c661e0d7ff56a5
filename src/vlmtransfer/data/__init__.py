"""The data layer: MCQ records and dataset directories, loaders (BLINK), the synthetic suite,
prompt construction and answer parsing. No torch here: models consume what this produces."""

from vlmtransfer.data.dataset import (
    SplitSummary,
    image_bytes,
    load_split,
    split_path,
    validate_dataset,
    write_manifest,
    write_split,
)
from vlmtransfer.data.records import (
    LETTERS,
    MANIFEST,
    MCQRecord,
    read_records,
    record_from_dict,
    write_records,
)

__all__ = [
    "LETTERS",
    "MANIFEST",
    "MCQRecord",
    "SplitSummary",
    "image_bytes",
    "load_split",
    "read_records",
    "record_from_dict",
    "split_path",
    "validate_dataset",
    "write_manifest",
    "write_records",
    "write_split",
]
