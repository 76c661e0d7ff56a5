"""BLINK's wording (registry templates, templates derived from val rows, the option texts) and the
perceptual hash behind the leakage guard."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.conftest import require_shared
from tests.data.builders.conftest import textured
from vlmtransfer.data.blink import BLINK_TASKS
from vlmtransfer.data.builders import (
    BUILDERS,
    LeakageGuard,
    PromptTemplate,
    art_style,
    depth,
    derive_template,
    forensic,
    jigsaw,
    multiview,
    object_localization,
    phash,
    reflectance,
    registry_template,
    spatial_relation,
    visual_similarity,
)
from vlmtransfer.data.builders.correspondence import POINT_CHOICES
from vlmtransfer.data.builders.markers import draw_points
from vlmtransfer.data.records import MCQRecord

REFERENCE = (
    Path(__file__).resolve().parents[3].parent / "shared" / "reference" / "blink-val-outputs" / "GPT4o.jsonl"
)

# BLINK prompts as public copies of its val/test rows show them (request files, raw evaluation dumps).
KNOWN = {
    "Relative_Depth": (
        ["A is closer", "B is closer"],
        {},
        (
            "Two points are circled on the image, labeled by A and B beside each circle. Which point"
            " is closer to the camera?\nSelect from the following choices.\n(A) A is closer\n(B) B is"
            " closer"
        ),
    ),
    "Spatial_Relation": (
        ["yes", "no"],
        {"question": "Is the car beneath the cat?"},
        ("Is the car beneath the cat?\nSelect from the following choices.\n(A) yes\n(B) no"),
    ),
    "Counting": (
        ["0", "3", "2", "1"],
        {"question": "How many blue floats are there?"},
        ("How many blue floats are there?\nSelect from the following choices.\n(A) 0\n(B) 3\n(C) 2\n(D) 1"),
    ),
    "Jigsaw": (
        ["the second image", "the third image"],
        {},
        (
            "Given the first image with the lower right corner missing, can you tell which one of"
            " the second image or the third image is the missing part? Imagine which image would be"
            " more appropriate to place in the missing spot. You can also carefully observe and"
            " compare the edges of the images.\nSelect from the following choices.\n\n(A) the second"
            " image\n(B) the third image\n"
        ),
    ),
    "Visual_Correspondence": (
        list(POINT_CHOICES),
        {},
        (
            "A point is circled on the first image, labeled with REF. We change the camera position"
            " or lighting and shoot the second image. You are given multiple red-circled points on"
            ' the second image, choices of "A, B, C, D" are drawn beside each circle. Which point on'
            " the second image corresponds to the point in the first image? Select from the"
            " following options.\n(A) Point A\n(B) Point B\n(C) Point C\n(D) Point D"
        ),
    ),
    "Relative_Reflectance": (
        ["A is darker", "B is darker", "About the same"],
        {},
        (
            "Two points are annotated on the image, labeled by A and B. Consider the surface color"
            " of the points (the albedo of the surface, without the effect of shading). Which point"
            " has darker surface color, or the colors is about the same? Select from the following"
            " choices.\n(A) A is darker\n(B) B is darker\n(C) About the same"
        ),
    ),
    "Forensic_Detection": (
        ["the first image", "the second image", "the third image", "the fourth image"],
        {},
        (
            "You are a judge in a photography competition, and now you are given the four images."
            " Please examine the details and tell which one of them is most likely to be a real"
            " photograph.\nSelect from the following choices.\n(A) the first image\n(B) the second"
            " image\n(C) the third image\n(D) the fourth image\n"  # final newline: inferred from the length
        ),
    ),
    "Art_Style": (
        ["the second image", "the third image"],
        {},
        (
            "Some most common art painting styles include Realism, Impressionism, Expressionism, Pop Art,"
            " and Cubism. Given the following images of art paintings, use the first image as the"
            " reference image, and determine which one of the second or the third image shares the same"
            " style as the reference image?\nSelect from the following choices.\n(A) the second image\n(B)"
            " the third image\n"
        ),
    ),
}


@pytest.mark.parametrize("task", sorted(KNOWN))
def test_registry_templates_reproduce_blink_prompts(task):
    choices, slots, prompt = KNOWN[task]
    assert registry_template(task).render(choices, **slots) == prompt


def test_every_blink_task_has_a_builder_and_a_template():
    assert tuple(BUILDERS) == BLINK_TASKS
    for task in BLINK_TASKS:
        template = registry_template(task)
        assert template.slots <= {"question", "object", "action"}


def test_option_texts_are_blinks():
    """BLINK's options per task, as recorded with real model answers on its val split."""
    require_shared(REFERENCE, "BLINK's recorded val answers")
    blink = {}
    for line in REFERENCE.read_text().splitlines():
        row = json.loads(line)
        if row["choices"] is not None:
            blink.setdefault(row["task"], row["choices"])
    ours = {
        "Art_Style": art_style.CHOICES,
        "Forensic_Detection": forensic.CHOICES,
        "Jigsaw": jigsaw.CHOICES,
        "Multi-view_Reasoning": multiview.CHOICES,
        "Object_Localization": object_localization.CHOICES,
        "Relative_Depth": depth.CHOICES,
        "Relative_Reflectance": reflectance.CHOICES,
        "Spatial_Relation": spatial_relation.CHOICES,
        "Visual_Similarity": visual_similarity.CHOICES,
        "Visual_Correspondence": POINT_CHOICES,
        "Semantic_Correspondence": POINT_CHOICES,
        "Functional_Correspondence": POINT_CHOICES,
    }
    for task, choices in ours.items():
        assert list(choices) == blink[task], task


# --- templates derived from val rows ------------------------------------------------------------------


def row(prompt: str, choices: list[str], question: str = "") -> MCQRecord:
    return MCQRecord("r", "T", ("a.png",), prompt, tuple(choices), "A", {"question": question})


def test_a_fixed_stem_is_taken_as_is_with_braces_escaped():
    rows = [row("Which {odd} one?\nSelect.\n(A) x\n(B) y\n", ["x", "y"]) for _ in range(3)]
    template = derive_template(rows, PromptTemplate("Q?\n{choices}"))
    assert template.text == "Which {{odd}} one?\nSelect.\n{choices}\n"
    assert template.render(["p", "q"]) == "Which {odd} one?\nSelect.\n(A) p\n(B) q\n"
    assert template.origin == "BLINK val rows (3 of 3 agree)"


def test_the_question_field_becomes_the_question_slot():
    rows = [
        row(f"{q}\nSelect from the following choices.\n(A) 1\n(B) 2", ["1", "2"], q)
        for q in ("How many cats?", "How many dogs are there?")
    ]
    template = derive_template(rows, PromptTemplate("{question}\n{choices}"))
    assert template.text == "{question}\nSelect from the following choices.\n{choices}"


def test_the_varying_part_becomes_the_object_slot_at_word_boundaries():
    stem = "Which box encloses the {}? Select from the following options.\n(A) Box A\n(B) Box B"
    rows = [row(stem.format(name), ["Box A", "Box B"]) for name in ("cat", "car", "tank top (clothing)")]
    template = derive_template(rows, PromptTemplate("{object} {choices}"))
    assert template.text == "Which box encloses the {object}? Select from the following options.\n{choices}"


def test_rows_that_do_not_fit_give_none():
    rows = [row("No options here", ["x", "y"])]
    assert derive_template(rows, PromptTemplate("{choices}")) is None
    same = [row("Which box encloses the cat?\n(A) x\n(B) y", ["x", "y"])] * 2
    assert derive_template(same, PromptTemplate("{object}\n{choices}")) is None  # nothing varies


def test_templates_reject_unknown_placeholders():
    with pytest.raises(ValueError, match="unsupported placeholder"):
        PromptTemplate("{colour}\n{choices}")
    with pytest.raises(ValueError, match=r"no \{choices\}"):
        PromptTemplate("{question}")


# --- perceptual hash ----------------------------------------------------------------------------------


def test_phash_survives_resizing_recompression_and_markers_not_other_photos():
    photo = textured(320, 240, 7).resize((320, 240))
    buffer = io.BytesIO()
    photo.resize((160, 120), Image.Resampling.BILINEAR).save(buffer, format="JPEG", quality=70)
    smaller = Image.open(io.BytesIO(buffer.getvalue()))
    marked = photo.copy()
    draw_points(marked, [(60, 60, "A"), (250, 180, "B")])
    guard = LeakageGuard(np.array([phash(photo)], dtype=np.uint64))
    assert guard.distance(phash(smaller)) <= 4
    assert guard.distance(phash(marked)) <= 10
    others = [guard.distance(phash(textured(320, 240, seed))) for seed in range(20, 40)]
    assert min(others) > 16
    assert guard.matches([textured(64, 64, 1), marked])
    assert not guard.matches([textured(320, 240, 21)])
