"""Checks on rendered figures shared by the report tests."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image


def assert_png_not_blank(png: bytes, min_ink: float = 0.03, min_colours: int = 8) -> None:
    """The PNG decodes and a real picture is drawn on it: enough non-white pixels, several colours."""
    with Image.open(io.BytesIO(png)) as image:
        rgb = image.convert("RGB")
    ink = float((np.asarray(rgb) < 245).any(axis=2).mean())
    few = rgb.getcolors(maxcolors=min_colours - 1)  # None: more colours than that
    assert ink >= min_ink, f"only {ink:.1%} of the pixels are not white"
    assert few is None, f"only {len(few or [])} colours"


def assert_pdf(pdf: bytes) -> None:
    assert pdf.startswith(b"%PDF-")
    assert pdf.rstrip().endswith(b"%%EOF")
    assert b"/FontFile2" in pdf  # TrueType (Type 42) fonts embedded, as publishers ask, not Type 3
