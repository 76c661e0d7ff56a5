"""Agreement of `parse_choice` with BLINK's own answer extraction on real VLM outputs, and its throughput.

Run: ``python benchmarks/parsing_agreement.py [--reference DIR] [--repeats N] [--disagreements K]``.
Reads ``../shared/reference/blink-val-outputs/*.jsonl`` (one file per model). A record is eligible when
BLINK's ``prediction`` is a letter label ``(X)`` within the question's number of options; agreement is
the fraction of eligible records where ``parse_choice(full_prediction, choices)`` gives that letter
(``None`` counts as disagreement); unparsed is the fraction where it gives ``None``. Prints one row per
model, the pooled numbers and answers parsed per second. Nothing here asserts.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

from vlmtransfer.data.parsing import parse_choice
from vlmtransfer.data.records import LETTERS

REPO = Path(__file__).resolve().parents[1]
REFERENCE = REPO.parent / "shared" / "reference" / "blink-val-outputs"
_BLINK_LABEL = re.compile(r"^\(([A-E])\)")


@dataclass(frozen=True)
class Example:
    """One eligible answer: its text, options and BLINK's extracted letter."""

    model: str
    idx: str
    text: str
    choices: list[str]
    blink: str


def load_examples(directory: Path) -> dict[str, list[Example]]:
    """Eligible records per model (file stem), in file order."""
    per_model: dict[str, list[Example]] = {}
    for path in sorted(directory.glob("*.jsonl")):
        examples = []
        for line in path.read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            n = record["n_choices"]
            choices = record["choices"] or [""] * n
            label = _BLINK_LABEL.match(record["prediction"] or "")
            if label and LETTERS.index(label.group(1)) < n:
                examples.append(
                    Example(path.stem, record["idx"], record["full_prediction"], choices, label[1])
                )
        per_model[path.stem] = examples
    return per_model


def agreement(examples: list[Example]) -> tuple[float, float]:
    """(agreement, unparsed) fractions of ``examples``."""
    parsed = [parse_choice(e.text, e.choices) for e in examples]
    agree = sum(p == e.blink for p, e in zip(parsed, examples, strict=True))
    unparsed = sum(p is None for p in parsed)
    return agree / len(examples), unparsed / len(examples)


def main() -> None:
    """Print the per-model table, pooled numbers, throughput and optionally some disagreements."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", type=Path, default=REFERENCE)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--disagreements", type=int, default=0, help="print this many disagreements")
    args = parser.parse_args()
    per_model = load_examples(args.reference)
    if not per_model:
        raise SystemExit(f"no *.jsonl files in {args.reference}")
    print(f"{'model':<18}{'eligible n':>11}{'agreement %':>13}{'unparsed %':>12}")
    for model, examples in per_model.items():
        agree, unparsed = agreement(examples)
        print(f"{model:<18}{len(examples):>11}{100 * agree:>13.2f}{100 * unparsed:>12.2f}")
    pooled = [e for examples in per_model.values() for e in examples]
    agree, unparsed = agreement(pooled)
    print(f"{'pooled':<18}{len(pooled):>11}{100 * agree:>13.2f}{100 * unparsed:>12.2f}")
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        for e in pooled:
            parse_choice(e.text, e.choices)
        times.append(time.perf_counter() - start)
    print(
        f"throughput: {len(pooled) / statistics.median(times):,.0f} answers/second (median of {args.repeats})"
    )
    shown = 0
    for e in pooled:
        if shown >= args.disagreements:
            break
        ours = parse_choice(e.text, e.choices)
        if ours != e.blink:
            shown += 1
            print(
                f"\n--- {e.model} {e.idx} choices={e.choices} BLINK={e.blink} ours={ours}\n{e.text.strip()}"
            )


if __name__ == "__main__":
    main()
