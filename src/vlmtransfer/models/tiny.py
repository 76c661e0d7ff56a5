"""The embedded tiny model: a real Qwen2.5-VL, small enough to train on a laptop CPU.

Built fully offline from the real transformers classes (``Qwen2_5_VLForConditionalGeneration``,
``Qwen2_5_VLProcessor``), a byte-level BPE tokenizer trained here on the synthetic suite's prompts with
Qwen's special tokens, and a chat template in Qwen's format. Saved with ``save_pretrained``, so
``AutoModelForImageTextToText`` / ``AutoProcessor`` load it like any hub model.

Tokenisation decision: parentheses are split off before BPE, so an answer ``(B)`` is always the three
tokens ``(``, ``B``, ``)`` and each answer letter is a single token whatever the corpus — the
log-likelihood scorer reads the letter's probability right after ``(``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from vlmtransfer.data.prompts import ANSWER_INSTRUCTION
from vlmtransfer.data.records import LETTERS
from vlmtransfer.fsutil import staged_directory

__all__ = [
    "CHAT_TEMPLATE",
    "SPECIAL_TOKENS",
    "TinyModelConfig",
    "build_tiny_model",
    "tokenizer_corpus",
    "train_tokenizer",
]

SPECIAL_TOKENS = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
)

CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}"
    "{% for part in message['content'] %}"
    "{% if part['type'] == 'text' %}{{ part['text'] }}{% endif %}"
    "{% endfor %}"
    "{% for part in message['content'] %}"
    "{% if part['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>{% endif %}"
    "{% endfor %}"
    "{% for part in message['content'] %}"
    "{% if part['type'] == 'video' %}<|vision_start|><|video_pad|><|vision_end|>{% endif %}"
    "{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
"""Qwen's chat format (``<|im_start|>role ... <|im_end|>``, images and videos as vision start/pad/end),
with a turn's text rendered before its images and then its videos, whatever their order in the message.

Why text first, unlike Qwen's own template: in a causal two-layer model an image token can only attend
to what precedes it, so with the question first every image token can see which colour or shape the
question names. Measured on counting alone from scratch: 35 % at 1,000 steps with the images first,
65.5 % with the question first (chance 25 %). Real Qwen2.5-VL models keep their own template."""


@dataclass(frozen=True)
class TinyModelConfig:
    """Sizes of the tiny model. Defaults: ~0.6 M parameters, 112-px images -> 16 image tokens.

    ``rope_theta`` is small on purpose. Qwen2.5-VL's multimodal RoPE gives an image token's width
    position the slowest rotary frequencies of each head (the last ``mrope_section``). At theta 10,000
    (the earlier default; Qwen2.5-VL's own 10^6 is slower still) and a head of 32 they turn by under
    0.01 rad across the 4 merged columns of a 112-px image, so the language model cannot tell left from
    right. At 3 the slowest turns by about 1 rad. The price: text positions more than ~18 tokens apart
    (the slowest frequency's period) look alike to attention, which content has to disambiguate. Measured,
    trained from scratch on "Is the <colour> <shape> on the left or on the right?": 50 % at 750 steps
    with theta 10,000, 83 % at 500 with theta 3.
    """

    text_layers: int = 2
    text_width: int = 128
    text_heads: int = 4
    text_kv_heads: int = 2
    text_mlp: int = 256
    vision_blocks: int = 2
    vision_width: int = 64
    vision_heads: int = 4
    vision_mlp: int = 128
    image_size: int = 112
    vocab_size: int = 512
    rope_theta: float = 3.0
    tokenizer_examples_per_task: int = 40


def tokenizer_corpus(examples_per_task: int = 40, seed: int = 0) -> Iterator[str]:
    """Text the tokenizer learns from: the synthetic suite's prompts, the instruction, the answers.

    The prompts are the ``train`` split's drawn with the ``pretrain`` renderings, the corpus the shipped
    tokenizer was trained on: a rendering made for ``train``/``val`` only (labels off the grid) draws
    more numbers per question and would change the prompts, the tokenizer and the whole rebuilt model.
    """
    from vlmtransfer.data.synthetic import SYNTHETIC_TASKS, generate_examples  # noqa: PLC0415

    for task in SYNTHETIC_TASKS:
        examples = generate_examples(
            task, "train", examples_per_task, seed, image_size=56, rendering="pretrain"
        )
        for record, _ in examples:
            yield record.prompt
    yield ANSWER_INSTRUCTION
    yield from (f"({letter})" for letter in LETTERS)


def train_tokenizer(corpus: Iterable[str], vocab_size: int = 512) -> Any:
    """A byte-level BPE tokenizer with Qwen's special tokens and chat template (deterministic)."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers  # noqa: PLC0415
    from transformers import PreTrainedTokenizerFast  # noqa: PLC0415

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(r"[()]"), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
        ]
    )
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(corpus, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, eos_token="<|im_end|>", pad_token="<|endoftext|>", padding_side="left"
    )
    fast.chat_template = CHAT_TEMPLATE
    return fast


def _processor(tokenizer: Any, image_size: int) -> Any:
    from transformers import Qwen2_5_VLProcessor, Qwen2VLImageProcessor, Qwen2VLVideoProcessor  # noqa: PLC0415

    pixels = image_size * image_size
    image_processor = Qwen2VLImageProcessor(
        size={"shortest_edge": pixels, "longest_edge": pixels},
        patch_size=14,
        merge_size=2,
        temporal_patch_size=2,
    )
    # Frames at the images' resolution (transformers' default floor of 100k pixels would blow a 112-px
    # frame up to 316 px, eight times the tokens), paired by the same temporal patch of two.
    video_processor = Qwen2VLVideoProcessor(
        size={"shortest_edge": pixels, "longest_edge": pixels},
        patch_size=14,
        merge_size=2,
        temporal_patch_size=2,
    )
    return Qwen2_5_VLProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        video_processor=video_processor,
        chat_template=CHAT_TEMPLATE,
    )


def _model_config(tokenizer: Any, cfg: TinyModelConfig) -> Any:
    from transformers import Qwen2_5_VLConfig  # noqa: PLC0415

    ids = {token: tokenizer.convert_tokens_to_ids(token) for token in SPECIAL_TOKENS}
    head_dim = cfg.text_width // cfg.text_heads
    # mrope splits each head's rotary half-dimension into temporal/height/width sections
    half = head_dim // 2
    sections = [half - 2 * (half * 3 // 8), half * 3 // 8, half * 3 // 8]
    return Qwen2_5_VLConfig(
        text_config={
            "hidden_size": cfg.text_width,
            "num_hidden_layers": cfg.text_layers,
            "num_attention_heads": cfg.text_heads,
            "num_key_value_heads": cfg.text_kv_heads,
            "intermediate_size": cfg.text_mlp,
            "vocab_size": len(tokenizer),
            "max_position_embeddings": 4096,
            "rope_scaling": {"type": "mrope", "mrope_section": sections, "rope_theta": cfg.rope_theta},
            "tie_word_embeddings": True,
            "bos_token_id": ids["<|endoftext|>"],
            "eos_token_id": ids["<|im_end|>"],
            "pad_token_id": ids["<|endoftext|>"],
        },
        vision_config={
            "depth": cfg.vision_blocks,
            "hidden_size": cfg.vision_width,
            "intermediate_size": cfg.vision_mlp,
            "num_heads": cfg.vision_heads,
            "patch_size": 14,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
            "out_hidden_size": cfg.text_width,
            "window_size": cfg.image_size,
            "fullatt_block_indexes": [cfg.vision_blocks - 1],
        },
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        bos_token_id=ids["<|endoftext|>"],
        eos_token_id=ids["<|im_end|>"],
        pad_token_id=ids["<|endoftext|>"],
        tie_word_embeddings=True,
    )


def build_tiny_model(out_dir: str | Path, seed: int = 0, config: TinyModelConfig | None = None) -> Path:
    """Build the (untrained) tiny model, tokenizer and processor into ``out_dir``, all or nothing.

    Deterministic for a seed: the tokenizer's corpus and the weight initialisation both derive from it.
    """
    from transformers import Qwen2_5_VLForConditionalGeneration  # noqa: PLC0415

    cfg = config or TinyModelConfig()
    tokenizer = train_tokenizer(tokenizer_corpus(cfg.tokenizer_examples_per_task, seed), cfg.vocab_size)
    processor = _processor(tokenizer, cfg.image_size)
    torch.manual_seed(seed)
    model = Qwen2_5_VLForConditionalGeneration(_model_config(tokenizer, cfg))
    out_dir = Path(out_dir)
    with staged_directory(out_dir, "config.json") as staging:
        model.save_pretrained(staging)
        processor.save_pretrained(staging)
    return out_dir
