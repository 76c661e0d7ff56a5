"""House style of the figures, and saving them reproducibly.

Figures are built on :class:`matplotlib.figure.Figure` directly, never through ``pyplot``: no global
figure registry to leak memory, no GUI backend to select, safe to call from any thread; the Agg
canvas is attached on save. Output is byte-for-byte reproducible for the same input and matplotlib
version: PDF dates are dropped, SVG ids are salted with a constant, fonts are the bundled DejaVu.
Task and model names are user data, so mathtext is off: a task named ``$x$`` prints as ``$x$``
instead of as maths, and an unbalanced ``$`` cannot make rendering fail.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator, Sequence

import matplotlib as mpl
import numpy as np
from matplotlib.colors import Colormap, TwoSlopeNorm, to_rgb
from matplotlib.figure import Figure
from PIL import Image

__all__ = [
    "DIVERGING",
    "LEVEL_COLOURS",
    "NEGATIVE",
    "POSITIVE",
    "SEQUENTIAL",
    "downscale_png",
    "figure_style",
    "level_colour",
    "pgf_norm",
    "save_figure",
    "text_colour",
]

POSITIVE = "#1a9850"  # green: finetuning on the source helps the target
NEGATIVE = "#d73027"  # red: it hurts
NEUTRAL = "#9e9e9e"
DIVERGING = "PiYG"  # ColorBrewer, white at 0, readable with red-green colour blindness
SEQUENTIAL = "Purples"
LEVEL_COLOURS = {"low": "#4c72b0", "mid": "#dd8452", "high": "#8172b3"}

STYLE = {
    "font.family": "DejaVu Sans",
    "font.size": 8,
    "axes.titlesize": 9,
    "axes.labelsize": 8,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "legend.frameon": False,
    "legend.fontsize": 7,
    "text.parse_math": False,
    "text.usetex": False,
    "pdf.fonttype": 42,  # TrueType: text stays text (editable, searchable), as journals ask
    "svg.fonttype": "none",
    "svg.hashsalt": "vlmtransfer",
    "image.interpolation": "nearest",
}


@contextlib.contextmanager
def figure_style() -> Iterator[None]:
    """Apply the house style while building and saving figures (restored afterwards)."""
    with mpl.rc_context(STYLE):
        yield


def save_figure(figure: Figure, formats: Sequence[str], dpi: int) -> dict[str, bytes]:
    """Render ``figure`` in each format (``png``, ``pdf``, ``svg``) to bytes, reproducibly."""
    metadata = {
        "png": {"Software": None},
        "pdf": {"CreationDate": None, "ModDate": None, "Producer": None, "Creator": None},
        "svg": {"Date": None, "Creator": None},
    }
    files = {}
    with figure_style():
        for fmt in formats:
            buffer = io.BytesIO()
            figure.savefig(
                buffer, format=fmt, dpi=dpi, metadata=metadata[fmt], bbox_inches="tight", pad_inches=0.04
            )
            files[fmt] = buffer.getvalue()
            # The constrained layout is computed in figure fractions, so it holds for every format and
            # dpi: computing it once instead of per format saves a third of the rendering time.
            figure.set_layout_engine("none")
    return files


def downscale_png(png: bytes, factor: float) -> bytes:
    """``png`` resized by ``factor`` (Lanczos) to a 256-colour palette: a screen preview for the page.

    Resizing the rendered PNG avoids drawing the figure again; the palette (octree, which keeps rare
    colours such as the level-coloured labels) makes it a quarter of the size, with no visible loss
    on flat-coloured plots. Deterministic.
    """
    with Image.open(io.BytesIO(png)) as image:
        size = (max(1, round(image.width * factor)), max(1, round(image.height * factor)))
        small = image.convert("RGB").resize(size, Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    small.quantize(256, method=Image.Quantize.FASTOCTREE).save(buffer, format="png", optimize=True)
    return buffer.getvalue()


def pgf_norm(limit: float) -> TwoSlopeNorm:
    """Colour scale for PGF: symmetric around 0 (white), so equal gains and losses look equally strong."""
    limit = float(limit) if np.isfinite(limit) and limit > 0 else 1.0
    return TwoSlopeNorm(vcenter=0.0, vmin=-limit, vmax=limit)


def text_colour(cmap: Colormap, value: float) -> str:
    """Black or white, whichever reads better on ``cmap(value)`` (``value`` normalised to [0, 1])."""
    red, green, blue = to_rgb(cmap(value))
    luminance = 0.2126 * red + 0.7152 * green + 0.0722 * blue
    return "black" if luminance > 0.5 else "white"


def level_colour(level: str | None) -> str:
    """Node colour of a task's perceptual level (grey when it has none)."""
    return LEVEL_COLOURS.get(level or "", NEUTRAL)
