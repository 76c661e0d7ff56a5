"""Answer parsing: hand-written answer forms, agreement with BLINK's extraction on real VLM outputs, and
properties that hold for any text."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import require_shared
from vlmtransfer.data.parsing import parse_choice
from vlmtransfer.data.records import LETTERS

REFERENCE = Path(__file__).resolve().parents[2].parent / "shared" / "reference" / "blink-val-outputs"
BLINK_LABEL = re.compile(r"^\(([A-E])\)")

BLANK4 = ["", "", "", ""]
IMAGES = ["the second image", "the third image"]
FOUR_IMAGES = ["the first image", "the second image", "the third image", "the fourth image"]
POINTS = ["Point A", "Point B", "Point C", "Point D"]
BOXES = ["Box A", "Box B"]
YES_NO = ["yes", "no"]
DIRECTIONS = ["left", "right"]
COUNTS = ["0", "3", "2", "1"]
DEPTH = ["A is closer", "B is closer"]
REFLECTANCE = ["A is darker", "B is darker", "About the same"]

CASES = [
    # bare and bracketed letters
    ("(B)", BLANK4, "B"),
    ("B.", BLANK4, "B"),
    ("B", BLANK4, "B"),
    ("<s> A", BLANK4, "A"),
    ("A) left", DIRECTIONS, "A"),
    ("(B) no", YES_NO, "B"),
    ("\uff08B\uff09", BLANK4, "B"),  # full-width brackets
    ("\uff08\uff23\uff09 Point C", POINTS, "C"),  # full-width letter too
    ("\u3010B\u3011", BLANK4, "B"),
    ("[C]", BLANK4, "C"),
    ("**(B)**", BLANK4, "B"),
    # answer markers
    ("Answer: C", BLANK4, "C"),
    ("**Answer:** C", BLANK4, "C"),
    ("Final answer: (D)", BLANK4, "D"),
    ("The correct answer is (D) Point D.", POINTS, "D"),
    ("After comparing both boxes, I would choose Box A.", BOXES, "A"),
    ("The corresponding point is B.", POINTS, "B"),
    ("The answer is not (A); it is (B).", BLANK4, "B"),
    (
        "Point A is on the ground. Point C is on the roof, as is the reference point. "
        "Therefore, the answer is (A).",
        POINTS,
        "A",
    ),
    (
        "Looking at the choices:\n(A) Point A is on the handle.\n(B) Point B is on the blade.\n\n"
        "The correct corresponding point is:\n(B) Point B",
        POINTS,
        "B",
    ),
    # the option's own text
    ("Point C", POINTS, "C"),
    ("the second image", IMAGES, "A"),
    ("The third image is most similar to the first one.", IMAGES, "B"),
    ('The point labeled "REF" corresponds to point "C" in the second image.', POINTS, "C"),
    ("The camera is moving to the right (clockwise) around the object.", DIRECTIONS, "B"),
    ("Point A, which is circled on the cup, appears to be closer to the camera than point B.", DEPTH, "A"),
    ("B is darker.", REFLECTANCE, "B"),
    ("(C) About the same", REFLECTANCE, "C"),
    # yes / no
    ("No, the cat is not on the table.", YES_NO, "B"),
    ("Yes.", YES_NO, "A"),
    ("yes", YES_NO, "A"),
    # counting: the number, or its word
    ("(B) 3", COUNTS, "B"),
    ("There are 3 cats in the picture.", COUNTS, "B"),
    ("I count three cats, so the answer is 3.", COUNTS, "B"),
    # answer first, then the other option contrasted
    ("Box B more accurately localizes and encloses the plate, whereas Box A is too small.", BOXES, "B"),
    ("Box B fits the dog tightly. Box A, on the other hand, includes the whole sofa.", BOXES, "B"),
    # a long explanation that ends with its choice
    (
        "The first image is an oil painting with loose brushwork. The second image is a photograph, "
        "while the third image is also painted with visible strokes.\n\nTherefore, the answer is (B).",
        IMAGES,
        "B",
    ),
    (
        "Box A covers only the head, while Box B encloses the whole dog. Therefore Box B is the better box.",
        BOXES,
        "B",
    ),
    # several options discussed, then a clear conclusion
    ("Option A is wrong because the box is too large. B is right.", BOXES, "B"),
    ("Option A is wrong, option B is the correct answer.", BOXES, "B"),
    # the model's own image labels after an ordinal: the ordinal decides
    ("The first image is realistic. The second image (B) is most similar to the first image.", IMAGES, "A"),
    ("The third image (C) is most similar to the first image (A).", IMAGES, "B"),
    # no answer: empty, refusals, hedges, analyses without a conclusion
    ("", BLANK4, None),
    ("   \n ", BLANK4, None),
    ("I cannot determine which image is the real photograph.", FOUR_IMAGES, None),
    ("I'm sorry, but I would prefer not to answer this question.", BLANK4, None),
    ("It could be (A) or (B).", BLANK4, None),
    ("Either Point A or Point B could correspond to the reference point.", POINTS, None),
    ("Both options seem plausible: the second image or the third image.", IMAGES, None),
    ("Neither the second nor the third image shares the style of the first.", IMAGES, None),
    ("If the reference is on the left, then Point A; if it is on the right, then Point D.", POINTS, None),
    ("A) Point A is on the handle.\nB) Point B is on the blade.\nC) Point C is on the tip.", POINTS, None),
    ("The second image shows a cat. The third image shows a dog.", IMAGES, None),
    # letters beyond the options are no answer
    ("(C)", IMAGES, None),
    ("C", YES_NO, None),
    ("The answer is (E).", POINTS, None),
    # the article "A" is not an answer
    ("A red car is parked next to the building.", BLANK4, None),
    ("A red car is parked next to the building.", POINTS, None),
    ("A dog sits on the left of the image.", BOXES, None),
]


@pytest.mark.parametrize(("text", "choices", "expected"), CASES, ids=[repr(c[0])[:60] for c in CASES])
def test_answer_forms(text: str, choices: list[str], expected: str | None) -> None:
    assert parse_choice(text, choices) == expected


@pytest.mark.parametrize("choices", [[], ["only one"], ["a", "b", "c", "d", "e", "f"]])
def test_choice_count_outside_two_to_five_is_rejected(choices: list[str]) -> None:
    with pytest.raises(ValueError, match="2 to 5"):
        parse_choice("(A)", choices)


# --- real outputs ----------------------------------------------------------------------------------------


def _eligible(path: Path) -> list[tuple[str, list[str], str]]:
    """``(text, choices, BLINK's letter)`` of the records whose BLINK prediction is a valid letter."""
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        n = record["n_choices"]
        label = BLINK_LABEL.match(record["prediction"] or "")
        if label and LETTERS.index(label[1]) < n:
            rows.append((record["full_prediction"], record["choices"] or [""] * n, label[1]))
    return rows


def test_agreement_with_blink_extraction_on_real_outputs() -> None:
    require_shared(REFERENCE, "reference VLM outputs")
    files = sorted(REFERENCE.glob("*.jsonl"))
    assert files, f"no reference VLM outputs in {REFERENCE}"
    table, pooled_n, pooled_agree = [], 0, 0
    for path in files:
        rows = _eligible(path)
        parsed = [parse_choice(text, choices) for text, choices, _ in rows]
        agree = sum(p == blink for p, (_, _, blink) in zip(parsed, rows, strict=True))
        unparsed = sum(p is None for p in parsed)
        table.append((path.stem, len(rows), agree / len(rows), unparsed / len(rows)))
        pooled_n, pooled_agree = pooled_n + len(rows), pooled_agree + agree
    print(f"\n{'model':<18}{'eligible n':>11}{'agreement %':>13}{'unparsed %':>12}")
    for model, n, agreement, unparsed in table:
        print(f"{model:<18}{n:>11}{100 * agreement:>13.2f}{100 * unparsed:>12.2f}")
    print(f"{'pooled':<18}{pooled_n:>11}{100 * pooled_agree / pooled_n:>13.2f}")
    assert pooled_agree / pooled_n >= 0.95
    assert all(agreement >= 0.90 for _, _, agreement, _ in table), table


# --- properties ------------------------------------------------------------------------------------------

ANSWERISH = st.sampled_from(
    ["(A)", "(B)", "(C)", "(D)", "(E)", "A", "B", "answer is ", "Answer: ", "the ", "second image", "Point C",
     "not ", " or ", "Therefore, ", "neither ", " nor ", "yes", "no", "I would choose ", "If ", ":", ".", ",",
     "\n", " ", "\uff08", "\uff09", "**", "<s>", "cannot determine", "3", "three"]
)  # fmt: skip
TEXTS = st.one_of(st.text(max_size=200), st.lists(ANSWERISH, max_size=40).map("".join))
OPTION_TEXTS = st.one_of(
    st.just(""),
    st.text(max_size=20),
    st.sampled_from(["yes", "no", "Point A", "the second image", "A is closer", "3", "About the same"]),
)
CHOICES = st.integers(2, len(LETTERS)).flatmap(lambda n: st.lists(OPTION_TEXTS, min_size=n, max_size=n))


@settings(max_examples=150, deadline=None)
@given(TEXTS, CHOICES)
def test_never_raises_and_answers_a_valid_letter_or_none(text: str, choices: list[str]) -> None:
    result = parse_choice(text, choices)
    assert result is None or result in LETTERS[: len(choices)]


@settings(max_examples=100, deadline=None)
@given(CHOICES, st.data())
def test_parenthesised_letter_is_that_option(choices: list[str], data: st.DataObject) -> None:
    letter = data.draw(st.sampled_from(LETTERS[: len(choices)]))
    assert parse_choice(f"({letter})", choices) == letter


@settings(max_examples=100, deadline=None)
@given(TEXTS, CHOICES)
def test_deterministic(text: str, choices: list[str]) -> None:
    assert parse_choice(text, choices) == parse_choice(text, list(choices))
