"""Model FLOPs of a Qwen2.5-VL-style model: what model FLOP utilisation (MFU) and the physical limit of a
study are computed from (``benchmarks/real_size.py``).

Counted from the model's own layers (its ``nn.Linear`` weights and the patch-embedding convolution; a model
built on the ``meta`` device is enough, so the 32B costs no memory), as multiply-adds x 2:

- **Language-model forward** of a sequence of ``T`` tokens, ``n`` of which need vocabulary logits
  (log-likelihood scoring: 1; the trainer: the target positions)::

      2·N·T + 2·V·n + 2·L·w·T²

  ``N``: the weights of the decoder layers (projections and MLP, every token goes through each once);
  ``V``: the LM head's weights (vocabulary x hidden); ``L`` layers, ``w`` = heads x head dim; the last
  term is causal attention (``QKᵀ`` and ``AV`` over the ``T²/2`` visible pairs; PaLM's MFU convention
  counts all ``T²``, which would add ~1 % at BLINK's lengths).
- **LoRA training step** per sequence (forward and backward)::

      4·N·T + 4·V·n + 6·L·w·T²

  The base weights are frozen, so the backward pass computes activation gradients only (``2·N·T``, as the
  forward) and no weight gradients: ``4·N`` per token, not full finetuning's ``6·N``. The LoRA factors'
  own FLOPs (rank x (in + out) per adapted matrix, < 1 % at rank 8 on a real model) are not model FLOPs
  and are not counted; attention's backward is twice its forward.
- **Vision tower** per image of ``P`` patches (14 x 14 px; ``P/4`` merged tokens reach the language
  model)::

      2·(E + B)·P + 2·M·P/4 + 4·d·P·(W·(blocks - full) + P·full)

  ``E``: patch embedding, ``B``: the vision blocks' weights, ``M``: the patch merger's; attention is
  bidirectional, within windows of ``W`` = 64 patches (112 px) except in the ``full``-attention blocks.

Embedding look-ups, norms, activations, rotary embeddings and softmax are not counted (they are not
matrix multiplications and do not bound the time on a matmul engine).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["FlopCounts", "flop_counts"]


@dataclass(frozen=True)
class FlopCounts:
    """The weights and shapes a Qwen2.5-VL-style model's FLOPs follow from (see the module docstring).

    Attributes:
        language: ``N``, weights of the language model's decoder layers.
        head: ``V``, weights of the LM head.
        layers: ``L``, decoder layers.
        attention_width: ``w``, attention heads x head dim of the language model.
        vision: ``B``, weights of the vision blocks.
        patch_embed: ``E``, weights of the patch embedding (applied once per patch).
        merger: ``M``, weights of the patch merger (applied once per merged token).
        vision_width: ``d``, the vision blocks' attention width.
        vision_blocks: vision blocks in all.
        full_attention_blocks: vision blocks with attention over the whole image.
        window_patches: ``W``, patches in one attention window of the other blocks.
        merge: patches per merged token.
    """

    language: int
    head: int
    layers: int
    attention_width: int
    vision: int = 0
    patch_embed: int = 0
    merger: int = 0
    vision_width: int = 0
    vision_blocks: int = 0
    full_attention_blocks: int = 0
    window_patches: int = 64
    merge: int = 4

    def forward(self, tokens: int, logits: int = 1) -> float:
        """FLOPs of one sequence's language-model forward (vocabulary logits at ``logits`` positions)."""
        return 2.0 * self.language * tokens + 2.0 * self.head * logits + self._attention(tokens)

    def train(self, tokens: int, targets: int) -> float:
        """FLOPs of one sequence's LoRA training forward and backward (frozen base, ``targets`` scored)."""
        return 4.0 * self.language * tokens + 4.0 * self.head * targets + 3 * self._attention(tokens)

    def image(self, patches: int) -> float:
        """FLOPs of the vision tower and merger on one image of ``patches`` patches."""
        window = min(self.window_patches, patches)
        windowed = self.vision_blocks - self.full_attention_blocks
        attention = (
            4.0 * self.vision_width * patches * (window * windowed + patches * self.full_attention_blocks)
        )
        return (
            2.0 * (self.patch_embed + self.vision) * patches
            + 2.0 * self.merger * patches / self.merge
            + attention
        )

    def _attention(self, tokens: int) -> float:
        return 2.0 * self.layers * self.attention_width * tokens * tokens


def flop_counts(model_or_config: Any) -> FlopCounts:
    """:class:`FlopCounts` of a Qwen2.5-VL model, or of its config (built on the ``meta`` device: no memory).

    Raises:
        ValueError: the model does not have Qwen2.5-VL's layout (``model.language_model.layers``,
            ``model.visual.blocks``, ``lm_head``).
    """
    import torch  # noqa: PLC0415 - heavy import

    model = model_or_config
    if not isinstance(model, torch.nn.Module):
        from transformers import AutoModelForImageTextToText  # noqa: PLC0415

        with torch.device("meta"):
            model = AutoModelForImageTextToText.from_config(model_or_config)
    try:
        language = model.model.language_model
        visual = model.model.visual
        head = model.lm_head
    except AttributeError:
        raise ValueError(
            f"{type(model).__name__}: not a Qwen2.5-VL layout (no language_model/visual)"
        ) from None
    text, vision = model.config.text_config, model.config.vision_config
    head_dim = getattr(text, "head_dim", None) or text.hidden_size // text.num_attention_heads
    depth = len(visual.blocks)
    full = [i for i in getattr(vision, "fullatt_block_indexes", range(depth)) if i < depth]
    window = getattr(vision, "window_size", 0) // vision.patch_size
    return FlopCounts(
        language=_linear_weights(language.layers),
        head=_linear_weights(head),
        layers=len(language.layers),
        attention_width=text.num_attention_heads * head_dim,
        vision=_linear_weights(visual.blocks),
        patch_embed=sum(p.numel() for p in visual.patch_embed.parameters() if p.dim() > 1),
        merger=_linear_weights(visual.merger),
        vision_width=vision.hidden_size,
        vision_blocks=depth,
        full_attention_blocks=len(full),
        window_patches=window * window or 64,
        merge=vision.spatial_merge_size**2,
    )


def _linear_weights(module: Any) -> int:
    import torch  # noqa: PLC0415

    return sum(m.in_features * m.out_features for m in module.modules() if isinstance(m, torch.nn.Linear))
