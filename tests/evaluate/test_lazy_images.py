"""Images loaded from a dataset directory are decoded when a batch's pixels are made, not when the questions
are loaded: a study's images are never all in memory at once (issue 25, item 1), and the answers are those
of images decoded up front."""

from __future__ import annotations

import gc

import pytest
from PIL import Image

from vlmtransfer.data.dataset import load_questions
from vlmtransfer.data.image_file import ImageFile
from vlmtransfer.data.synthetic import generate_suite
from vlmtransfer.evaluate import EvalSettings, Evaluator
from vlmtransfer.evaluate.feature_cache import batch_key
from vlmtransfer.models import load_model
from vlmtransfer.models.encoding import encode_question

TASKS = ("Syn_Forensic_Detection", "Syn_Counting")  # 4 images a question, and 1
BATCH = 3


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("lazy") / "data"
    generate_suite(root, tasks=TASKS, n_train=1, n_val=6, seed=0)
    return root


@pytest.fixture(scope="module")
def loaded(untrained_tiny):
    return load_model(str(untrained_tiny))


def _questions(data_dir):
    return [item for task in TASKS for item in load_questions(data_dir, task, "val")]


def _live_images() -> int:
    """PIL images alive now (decoded pixels held somewhere)."""
    gc.collect()
    return sum(1 for thing in gc.get_objects() if issubclass(type(thing), Image.Image))


@pytest.fixture
def image_processor_spy(loaded, monkeypatch):
    """Each call of the model's image processor: how many images it was given, and how many PIL images
    were alive at that moment (the batch's, and whatever else holds decoded images)."""
    calls: list[tuple[int, int]] = []
    processor_type = type(loaded.processor.image_processor)
    original = processor_type.__call__

    def spy(self, images=None, *args, **kwargs):
        calls.append((len(images) if isinstance(images, list) else 1, _live_images()))
        return original(self, images, *args, **kwargs)

    monkeypatch.setattr(processor_type, "__call__", spy)
    return calls


def test_loading_questions_decodes_no_image(data_dir):
    before = _live_images()
    questions = _questions(data_dir)
    assert _live_images() == before
    media = [image for _, images in questions for image in images]
    assert len(media) == 6 * 4 + 6
    assert all(isinstance(image, ImageFile) and image.size == (112, 112) for image in media)
    decoded = media[0].load()
    assert decoded.mode == "RGB"
    with Image.open(media[0].path) as handle:
        assert decoded.tobytes() == handle.convert("RGB").tobytes()


@pytest.mark.parametrize("cache_vision", [True, False])
def test_at_most_one_batch_of_images_is_decoded_at_once(data_dir, loaded, image_processor_spy, cache_vision):
    baseline = _live_images()
    questions = _questions(data_dir)
    evaluator = Evaluator(loaded, questions, EvalSettings(batch_size=BATCH, cache_vision=cache_vision))
    evaluator.run()
    assert image_processor_spy, "the image processor was never called"
    largest_batch = BATCH * 4
    for given, alive in image_processor_spy:
        assert given <= largest_batch
        assert alive - baseline <= given, (alive, baseline, given)  # only the images being processed
    images = sum(len(media) for _, media in questions)
    assert max(alive for _, alive in image_processor_spy) - baseline < images  # never all 30 at once


def test_answers_equal_those_of_images_decoded_up_front(data_dir, loaded, tmp_path):
    lazy = _questions(data_dir)
    eager = [(record, [image.load() for image in images]) for record, images in lazy]
    for settings in (
        EvalSettings(batch_size=BATCH),
        EvalSettings(batch_size=BATCH, cache_vision=False),
        EvalSettings(batch_size=BATCH, mode="generate", max_new_tokens=3),
    ):
        first = Evaluator(loaded, lazy, settings).run()
        second = Evaluator(loaded, eager, settings).run()
        assert [r.predicted for r in first] == [r.predicted for r in second]
        assert [r.logprobs for r in first] == [r.logprobs for r in second]
        assert [r.text for r in first] == [r.text for r in second]


def test_spilled_shards_of_image_files_are_found_again_after_a_reload(data_dir, loaded, tmp_path):
    settings = EvalSettings(batch_size=BATCH, cache_budget_bytes=0, cache_dir=tmp_path / "cache")
    first = Evaluator(loaded, _questions(data_dir), settings)
    expected = first.run()
    assert any((tmp_path / "cache").iterdir())
    again = Evaluator(loaded, _questions(data_dir), settings)  # fresh ImageFile objects, same files
    assert [r.logprobs for r in again.run()] == [r.logprobs for r in expected]
    assert again.features.disk_reads == len(again._plans[next(iter(again._plans))].batches)


def test_an_image_file_keys_its_batch_by_content(data_dir, loaded, tmp_path):
    (record, images), (other_record, other_images) = _questions(data_dir)[:2]
    encoded = encode_question(record, images, loaded.processor)
    same = encode_question(record, [ImageFile.open(image.path) for image in images], loaded.processor)
    other = encode_question(other_record, other_images, loaded.processor)
    assert batch_key("m", [encoded]) == batch_key("m", [same])
    assert batch_key("m", [encoded]) != batch_key("m", [other])
    assert batch_key("m", [encoded]) != batch_key("n", [encoded])
