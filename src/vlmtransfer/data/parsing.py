"""Deterministic extraction of the chosen option from a VLM's free-text answer to a multiple-choice question.

``parse_choice(text, choices)`` returns the letter (``"A"`` .. ``"E"``; option ``k`` is ``LETTERS[k]``)
the text commits to, or ``None`` when it commits to no single option. No model is involved: only rules
and the option texts, so the result is reproducible and cheap enough to run on every evaluation answer.

How an option can be *referenced* in a text (a "mention"):

- a label: ``(B)``, ``[B]``, a line that starts ``B)`` / ``B.`` / ``B:``, or a noun plus letter such as
  ``option B``, ``choice (B)``, ``picture B`` (letters are upper case; a lower-case ``a`` is an article);
- the option's own text, matched as whole words and case-insensitively (``the third image``, ``Point C``,
  ``no``, ``3`` or ``three``); a leading ``the`` of the option text is optional.

A letter beyond ``len(choices)`` never counts. The rules are tried in order; the first that commits wins:

1. **Explicit answer marker** (``the answer is (B)``, ``Answer: C``, ``I would choose the third image``,
   ``(B) is the correct answer``). Models state their final pick this way, so it overrides everything;
   when several markers name different options the last one wins (a later statement revises an earlier
   one), and a marker followed by ``or``/``and`` another option is a hedge and is ignored.
2. **Leading label**: the text starts with an option label (``(B) no``, ``A) left``, a bare ``B``) that
   does not open an enumeration of several labelled lines. Short answers and "answer first, then
   explain" replies take this form.
3. **Conclusion**: the last sentence that carries a conclusion cue (``therefore``, ``so``, ``in summary``,
   ``the correct``, ``I believe`` ...) and mentions an option. Reasoning replies end with their pick;
   the earlier text compares options and would be ambiguous.
4. **Opening sentence**: the first sentence mentions options. Replies that answer first say the answer in
   the first sentence (``Box B more accurately encloses ...``, ``No, the cat is not ...``).
5. **Single mention**: the whole text mentions exactly one option.

Rules 3-5 commit only to a single option: when a sentence mentions several, mentions that are negated or
contrasted (``not (A)``, ``rather than the second image``, ``Box A does not ...``) are dropped, and if
several still remain the rule abstains. Anything left - refusals, hedges listing options, texts that name
no option - gives ``None``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from vlmtransfer.data.records import LETTERS

__all__ = ["parse_choice"]

_MIN_CHOICES = 2

# --- normalisation -----------------------------------------------------------------------------------

_SPECIAL_TOKEN_RE = re.compile(r"</?s>|<\|[^|<>\s]{1,30}\|>|\[/?INST\]")
_MARKDOWN_RE = re.compile(r"\*{1,3}|(?<!\w)_{1,3}|_{1,3}(?!\w)|`+|^#{1,6}[ \t]*", re.MULTILINE)
_BRACKETS = str.maketrans({"[": "(", "]": ")", "【": "(", "】": ")", "〔": "(", "〕": ")", "’": "'"})


def _normalize(text: str) -> str:
    """NFKC-fold (full-width ``（Ｂ）`` -> ``(B)``), unify brackets, drop special tokens and markdown."""
    text = unicodedata.normalize("NFKC", text).translate(_BRACKETS)
    text = _SPECIAL_TOKEN_RE.sub(" ", text)
    return _MARKDOWN_RE.sub("", text).strip()


# --- mentions ----------------------------------------------------------------------------------------

_LETTER = r"([A-E])(?![\w'])"
_NOUN = r"(?i:option|choice|answer|candidate|picture|image|figure|panel)"
_LABEL_RE = re.compile(
    rf"\(([A-E])\)"  # (B)
    rf"|(?m:^[ \t]*(?:[-*•>][ \t]*)?([A-E])[).:](?=\s|$))"  # a line starting "B)" "B." "B:"
    rf"|\b{_NOUN}[ \t]*\(?{_LETTER}"  # option B, picture (C)
)
_NUMBER_WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen", "twenty"]


@dataclass(frozen=True)
class _Mention:
    """A reference to option ``index`` at ``text[start:end]``."""

    start: int
    end: int
    index: int


def _choice_pattern(choice: str) -> str | None:
    """A regex for the option text as whole words (case-insensitive), or None for an empty text."""
    words = choice.strip().rstrip(".").split()
    if not words:
        return None
    prefix = ""
    if words[0].lower() == "the" and len(words) > 1:
        prefix, words = r"(?:the\s+)?", words[1:]
    body = r"\s+".join(re.escape(w) for w in words)
    if len(words) == 1 and words[0].isdigit() and int(words[0]) < len(_NUMBER_WORDS):
        body = rf"(?:{body}|{_NUMBER_WORDS[int(words[0])]})"
    return rf"(?<![\w.]){prefix}{body}(?![\w]|\.\d)"


@lru_cache(maxsize=256)
def _choice_regexes(choices: tuple[str, ...]) -> tuple[re.Pattern[str] | None, ...]:
    """One compiled, case-insensitive option-text regex per option (None for an empty text)."""
    patterns = (_choice_pattern(c) for c in choices)
    return tuple(re.compile(p, re.IGNORECASE) if p else None for p in patterns)


def _label_mentions(text: str, n: int) -> list[_Mention]:
    """Every label mention (``(B)``, ``B)`` at a line start, ``option B``) with a valid letter."""
    found = []
    for match in _LABEL_RE.finditer(text):
        group = next(g for g in range(1, 4) if match.group(g))
        index = LETTERS.index(match.group(group))
        if index < n:
            found.append(_Mention(match.start(), match.end(), index))
    return found


def _text_mentions(text: str, regexes: Sequence[re.Pattern[str] | None]) -> list[_Mention]:
    """Every occurrence of an option's own text; overlapping matches keep the longer one."""
    found = [
        _Mention(m.start(), m.end(), k)
        for k, regex in enumerate(regexes)
        if regex is not None
        for m in regex.finditer(text)
    ]
    found.sort(key=lambda m: (m.start, -(m.end - m.start)))
    kept: list[_Mention] = []
    for mention in found:
        if not kept or mention.start >= kept[-1].end:
            kept.append(mention)
    return kept


# --- context -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Context:
    """A normalised answer with its options' regexes, mentions and sentence spans."""

    text: str
    n: int
    regexes: tuple[re.Pattern[str] | None, ...]
    mentions: tuple[_Mention, ...]
    sentences: tuple[tuple[int, int], ...]


_SENTENCE_END_RE = re.compile(r"(?<=[.!?])[ \t]+(?=[^a-z\s])|\n\s*")


def _sentences(text: str) -> tuple[tuple[int, int], ...]:
    """Sentence spans; a sentence ending in ``:`` is joined with the next (``the answer is:\\n(B)``)."""
    spans: list[tuple[int, int]] = []
    start = 0
    for match in _SENTENCE_END_RE.finditer(text):
        spans.append((start, match.start()))
        start = match.end()
    spans.append((start, len(text)))
    merged: list[tuple[int, int]] = []
    for span in spans:
        if span[0] == span[1]:
            continue
        if merged and text[merged[-1][0] : merged[-1][1]].rstrip().endswith(":"):
            merged[-1] = (merged[-1][0], span[1])
        else:
            merged.append(span)
    return tuple(merged)


def _context(text: str, choices: Sequence[str]) -> _Context:
    """Normalise ``text`` and collect what the rules need."""
    norm = _normalize(text)
    regexes = _choice_regexes(tuple(choices))
    mentions = sorted(
        _label_mentions(norm, len(choices)) + _text_mentions(norm, regexes), key=lambda m: m.start
    )
    return _Context(norm, len(choices), regexes, tuple(mentions), _sentences(norm))


# --- shared helpers ----------------------------------------------------------------------------------

_TARGET_LETTER_RE = re.compile(rf"\(?(?:{_NOUN}[ \t]*)?\(?{_LETTER}\)?")
_TARGET_SKIP_RE = re.compile(r"""[\s:="'\-]*""")
_HEDGE_RE = re.compile(r"\s*(?:,\s*)?(?:or|and|/|&)\s+", re.IGNORECASE)


def _target_at(ctx: _Context, pos: int) -> tuple[int, int] | None:
    """The option named right at ``pos`` (after quotes, colons, spaces) as ``(index, end)``, else None."""
    pos = _TARGET_SKIP_RE.match(ctx.text, pos).end()  # type: ignore[union-attr]
    letter = _TARGET_LETTER_RE.match(ctx.text, pos)
    if letter:
        index = LETTERS.index(letter.group(1))
        return (index, letter.end()) if index < ctx.n else None
    best: tuple[int, int] | None = None
    for k, regex in enumerate(ctx.regexes):
        match = regex.match(ctx.text, pos) if regex is not None else None
        if match and (best is None or match.end() > best[1]):
            best = (k, match.end())
    return best


def _is_hedged(ctx: _Context, end: int) -> bool:
    """True when the option ending at ``end`` is followed by ``or``/``and`` another option."""
    hedge = _HEDGE_RE.match(ctx.text, end)
    return bool(hedge) and _target_at(ctx, hedge.end()) is not None  # type: ignore[union-attr]


_NEGATED_BEFORE_RE = re.compile(
    r"(?:\bnot|n't|\bthan|\binstead of|\bunlike|\bcompared (?:to|with)|\bversus|\bvs\.?|\bover|\bexcept"
    r"|\bwhereas|\bwhile|\bnor|\bneither|\bnor)(?:\s+(?:the|to|with|that|those|of|in|for|from)\b)*\s*$",
    re.IGNORECASE,
)
_NEGATED_AFTER_RE = re.compile(
    r"^\s*(?:\([^)]*\)\s*)?(?:,[^,]{0,40},\s*)?(?:is|are|was|does|do|has|seems|appears)?\s*"
    r"(?:not|n't|incorrect|wrong|less|too|only)\b",
    re.IGNORECASE,
)
_INABILITY_RE = re.compile(
    r"\b(?:cannot|can't|can not|could not|couldn't|unable to|not possible to|impossible to|not able to)"
    r"\s+(?:\w+\s+){0,2}?(?:determine|tell|decide|say|identify|conclude|know|be determined|choose|answer)\b",
    re.IGNORECASE,
)


def _is_contrasted(ctx: _Context, mention: _Mention, span: tuple[int, int]) -> bool:
    """True when the mention is negated or the contrasted side (``not (A)``, ``Box A does not ...``)."""
    before = ctx.text[max(span[0], mention.start - 30) : mention.start]
    after = ctx.text[mention.end : min(span[1], mention.end + 60)]
    return bool(_NEGATED_BEFORE_RE.search(before) or _NEGATED_AFTER_RE.match(after))


def _affirmed(ctx: _Context, span: tuple[int, int]) -> set[int] | None:
    """The options mentioned in ``span`` and not contrasted, or None when ``span`` mentions no option.

    A sentence that declares it cannot decide (``I cannot determine ...``) affirms nothing."""
    inside = [m for m in ctx.mentions if span[0] <= m.start < span[1]]
    if not inside:
        return None
    if _INABILITY_RE.search(ctx.text, span[0], span[1]):
        return set()
    return {m.index for m in inside if not _is_contrasted(ctx, m, span)}


def _enumerates(ctx: _Context) -> bool:
    """True when several lines start with different option labels (an option-by-option analysis)."""
    return len({m.group(1) for m in _LINE_LABEL_RE.finditer(ctx.text)}) > 1


# --- rules -------------------------------------------------------------------------------------------

_MARKER_RE = re.compile(
    r"\b(?:answer|choice|option|selection|response|pick)\b"
    r"(?:[^.!?\n]{0,80}?\b(?:is|would be|will be|should be|must be|remains)\b"
    r"(?:\s+(?:likely|probably|most likely|clearly|definitely|therefore|thus|then))?(?:\s*:)?"
    r"|\s*[:=])"
    r"|\bI(?:\s+would|\s+will|'d|\s+must)?(?:\s+\w+ly)?\s+(?:choose|select|pick|go with|say|opt for|lean towards?)\b",
    re.IGNORECASE,
)
_REVERSE_MARKER_RE = re.compile(
    r"\s*(?:\([^)]*\)\s*)?(?:is|would be|seems to be|appears to be)\s+(?:the\s+)?"
    r"(?:(?:most\s+)?(?:likely|best|correct|right|appropriate|accurate|final)\s+)*"
    r"(?:answer|choice|option|correct|right)\b",
    re.IGNORECASE,
)


def _explicit_marker(ctx: _Context) -> int | None:
    """Rule 1: the last option named by an answer marker (``answer is (B)``, ``(B) is correct``)."""
    hits: list[tuple[int, int]] = []
    for match in _MARKER_RE.finditer(ctx.text):
        target = _target_at(ctx, match.end())
        if target is not None and not _is_hedged(ctx, target[1]):
            hits.append((match.start(), target[0]))
    for mention in ctx.mentions:
        if _REVERSE_MARKER_RE.match(ctx.text, mention.end):
            hits.append((mention.start, mention.index))
    return max(hits)[1] if hits else None


_LEADING_RE = re.compile(r"\(?([A-E])(?:\)|[.:](?=\s|$)|\s*$|\s*\n|\s+-\s)")
_LINE_LABEL_RE = re.compile(r"^[ \t]*(?:[-*•>][ \t]*)?\(?([A-E])[).:](?=\s|$)", re.MULTILINE)


def _leading_label(ctx: _Context) -> int | None:
    """Rule 2: the label the text opens with, unless it opens an enumeration of labelled lines."""
    match = _LEADING_RE.match(ctx.text)
    if not match:
        return None
    index = LETTERS.index(match.group(1))
    if index >= ctx.n or _is_hedged(ctx, match.end()):
        return None
    return None if _enumerates(ctx) else index


_CUE_RE = re.compile(
    r"(?:^|[(\"'])\s*(?:so|overall|based on|given|considering|ultimately|finally|hence|thus|therefore)\b"
    r"|\b(?:therefore|thus|hence|consequently|in summary|in conclusion|to conclude|to summarize|in short"
    r"|correct|best|most likely|I believe|I think|I would|my (?:answer|assessment|choice|guess)|final)\b",
    re.IGNORECASE,
)


def _one(options: set[int] | None) -> int | None:
    """The option when ``options`` holds exactly one, else None."""
    return next(iter(options)) if options and len(options) == 1 else None


def _conclusion(ctx: _Context) -> int | None:
    """Rule 3: the option affirmed by the last conclusion-cue sentence that affirms any option."""
    for span in reversed(ctx.sentences):
        if not _CUE_RE.search(ctx.text[span[0] : span[1]]):
            continue
        options = _affirmed(ctx, span)
        if options:
            return _one(options)
    return None


def _opening_sentence(ctx: _Context) -> int | None:
    """Rule 4: the option the first sentence affirms, unless the text is an option-by-option analysis."""
    return None if _enumerates(ctx) else _one(_affirmed(ctx, ctx.sentences[0]))


def _single_mention(ctx: _Context) -> int | None:
    """Rule 5: the option when the whole text mentions exactly one, and affirms it at least once."""
    if len({m.index for m in ctx.mentions}) != 1:
        return None
    return _one(_affirmed(ctx, (0, len(ctx.text))))


_RULES: tuple[Callable[[_Context], int | None], ...] = (
    _explicit_marker,
    _leading_label,
    _conclusion,
    _opening_sentence,
    _single_mention,
)


def parse_choice(text: str, choices: Sequence[str]) -> str | None:
    """The letter of the option ``text`` commits to, or None when it commits to no single option.

    Args:
        text: a model's free-text answer (any string; never raises on its content).
        choices: the option texts in order, 2 to 5 of them; option ``k`` is ``LETTERS[k]``. A text may be
            ``""`` when unknown: then only letter labels can select that option.

    Returns:
        ``"A"`` .. ``LETTERS[len(choices) - 1]``, or None.

    Raises:
        ValueError: when ``choices`` does not hold 2 to 5 strings.
    """
    if not _MIN_CHOICES <= len(choices) <= len(LETTERS) or not all(isinstance(c, str) for c in choices):
        raise ValueError(f"choices must be {_MIN_CHOICES} to {len(LETTERS)} strings, got {choices!r}")
    if not isinstance(text, str) or not text.strip():
        return None
    ctx = _context(text, choices)
    for rule in _RULES:
        index = rule(ctx)
        if index is not None:
            return LETTERS[index]
    return None
