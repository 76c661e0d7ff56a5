"""`run --dry-run`'s vision-cache estimate: tokens per image, model shapes, the printed line."""

from __future__ import annotations

import yaml
from typer.testing import CliRunner

from vlmtransfer.cli.cache_estimate import model_vision_shape, vision_tokens
from vlmtransfer.cli.main import app
from vlmtransfer.data.synthetic import generate_suite


def test_tokens_per_image_follow_qwens_resize():
    assert vision_tokens(1000, 700, 3136, 12845056) == 25 * 36  # resized to 1008 x 700
    assert vision_tokens(112, 112, 12544, 12544) == 16  # the tiny model's images
    assert vision_tokens(4000, 3000, 3136, 1003520) <= 1003520 // 28**2  # capped by max_pixels


def test_model_shapes_without_loading():
    assert model_vision_shape("qwen2.5-vl-7b") == (3584, 3136, 1003520)
    assert model_vision_shape("tiny") == (128, 12544, 12544)
    assert model_vision_shape("someone/else") is None


def test_dry_run_prints_the_cache_estimate(tmp_path):
    generate_suite(tmp_path / "data", tasks=("Syn_Counting", "Syn_Jigsaw"), n_train=2, n_val=5, seed=0)
    config = {
        "output": str(tmp_path / "study"),
        "models": [{"name": "tiny"}],
        "data": {"dirs": [str(tmp_path / "data")]},
        "seeds": [0],
    }
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(config))
    result = CliRunner().invoke(app, ["run", str(tmp_path / "s.yaml"), "--dry-run"])
    assert result.exit_code == 0, result.output
    # counting: 1 image per question, jigsaw: 3; 16 tokens each at 112 px; 128 values of 2 or 4 bytes
    images = 5 * 1 + 5 * 3
    assert f"vision cache, tiny: {images} images, {images * 16} image tokens" in result.output
    assert f"{images * 16 * 128 * 2 / 1e6:.1f} MB in bf16" in result.output
