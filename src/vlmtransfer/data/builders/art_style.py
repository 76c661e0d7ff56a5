"""Art_Style from WikiArt: a reference painting, one of the same style and one of another style."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from vlmtransfer.data.builders.base import (
    Example,
    Item,
    RenderContext,
    SkipItem,
    SourceIndex,
    SourceInfo,
    find_file,
    relative_to,
)
from vlmtransfer.errors import InputError

__all__ = ["WikiArtStyle"]

CHOICES = ("the second image", "the third image")
STYLES = ("Realism", "Impressionism", "Expressionism", "Pop_Art", "Cubism")
"""The five styles BLINK's Art_Style prompt names (WikiArt folder names)."""


class WikiArtStyle:
    """WikiArt as packaged by ArtGAN (Tan et al.): ``wikiart/<Style>/<artist>_<title>.jpg`` and
    ``wikiart_csv/style_train.csv`` (``<Style>/<file>,<class index>`` per line, no header). Only the
    five styles BLINK's prompt names are used. The same-style candidate is by another artist whenever
    the style has one, so the question is about style rather than recognising a painter."""

    task: str = "Art_Style"
    max_per_group: int | None = None
    source = SourceInfo(
        dataset="WikiArt (ArtGAN package)",
        files=("wikiart_csv/style_train.csv", "wikiart/<Style>/<artist>_<title>.jpg"),
        download="https://github.com/cs-chan/ArtGAN/tree/master/WikiArt%20Dataset",
        license="non-commercial research use (WikiArt's terms; paintings under their own rights)",
        split="style_train.csv only; style_val.csv is never read",
    )

    def scan(self, root: Path) -> SourceIndex:
        path = find_file(
            root,
            ("wikiart_csv/style_train.csv", "style_train.csv"),
            "WikiArt's style train list",
            self.source,
        )
        images = root / "wikiart" if (root / "wikiart").is_dir() else root
        by_style: dict[str, list[str]] = defaultdict(list)
        index = SourceIndex(root=root, items=[])
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            relative = line.rsplit(",", 1)[0].strip()
            style = relative.split("/", 1)[0]
            if "/" not in relative:
                raise InputError(
                    f"expected <Style>/<file>,<index>, got {line!r}", source=path, where=f"line {n}"
                )
            if style not in STYLES:
                index.excluded["style not in BLINK's five"] += 1
                continue
            by_style[style].append(relative_to(images / relative, root))
        if len(by_style) < 2:
            raise InputError(f"needs paintings of at least two of {', '.join(STYLES)}", source=path)
        for style in sorted(by_style):
            for painting in by_style[style]:
                index.items.append(Item(key=painting, payload=(style, painting)))
        index.pools["by_style"] = dict(by_style)
        return index

    def render(self, index: SourceIndex, item: Item, answer: str, ctx: RenderContext) -> Example:
        style, painting = item.payload
        by_style: dict[str, list[str]] = index.pools["by_style"]
        same = _same_style(ctx, by_style[style], painting)
        other_style = ctx.choice(sorted(s for s in by_style if s != style))
        different = ctx.choice(by_style[other_style])
        photos = [ctx.photo(p, upright=True) for p in (painting, same, different)]
        reference, match, mismatch = photos
        candidates = [match, mismatch] if answer == "A" else [mismatch, match]
        return Example(
            images=[p.image for p in (reference, *candidates)],
            choices=CHOICES,
            answer=answer,
            sources=tuple(relative_to(p.path, index.root) for p in (reference, *candidates)),
            meta={"style": style, "other_style": other_style},
        )


def _same_style(ctx: RenderContext, pool: list[str], painting: str) -> str:
    """Another painting of the style, by another artist when one turns up in 64 draws."""
    for _ in range(64):
        candidate = pool[int(ctx.rng.integers(len(pool)))]
        if candidate != painting and _artist(candidate) != _artist(painting):
            return candidate
    peers = [p for p in pool if p != painting]
    if not peers:
        raise SkipItem("the only painting of its style")
    return ctx.choice(peers)


def _artist(path: str) -> str:
    return Path(path).name.split("_", 1)[0]
