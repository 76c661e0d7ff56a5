"""Deterministic extraction of the chosen option from a VLM's free-text answer to a multiple-choice question.

``parse_choice(text, choices)`` returns the letter (``"A"`` .. ``"E"``; option ``k`` is ``LETTERS[k]``)
the text commits to, or ``None`` when it commits to no single option. No model is involved, only rules
and the option texts, so the result is reproducible and cheap enough to run on every evaluation answer.
A missing answer is preferred to a guessed one: refusals, hedges between options and texts naming no
option give ``None``.

**Normalisation.** NFKC (full-width brackets and letters become ASCII), ``[B]`` and CJK brackets
become ``(B)``; quotes around a letter (``point "C"``), markdown emphasis and special tokens such as
``<s>`` are dropped.

**Mentions.** An option is mentioned by

- a label: ``(B)``, a line that starts ``B)`` / ``B.`` / ``B:``, or a noun and a letter (``option B``,
  ``picture (C)``, ``labeled B``). Letters must be upper case, and a bare capital counts only where an
  answer is expected (after a marker, or as the whole reply), so the article in ``A red car ...`` never
  does. A label inside a list of letters (``points A and B``) names nothing, and a label after an ordinal
  phrase (``the second image (B)``) is the model's name for that item, not an option: the phrase decides;
- the option's own text, as whole words, case-insensitively: ``the third image`` (also ``third one``,
  ``third picture``), ``Point C``, ``3`` or ``three``, ``yes``/``no`` when no word follows (``No, ...``
  but not ``no table``). ``is`` inside an option text admits copula variants and an inserted clause:
  ``Point A, circled on the cup, appears to be closer`` mentions ``A is closer``.

A letter beyond ``len(choices)`` never mentions an option. A mention is *contrasted* when it is negated
or on the losing side of a comparison (``not (A)``, ``Box A does not ...``, ``(A) is incorrect``,
``Box A, on the other hand, ...``, or
inside a clause opened by ``than``, ``whereas``, ``while``, ``compared to``, ``rather than`` ...). A
sentence *affirms* the options it mentions uncontrasted; a hypothetical (``If ..., then Point A``) or a
sentence declining to choose (``neither ... nor``, ``I cannot determine ...``) affirms nothing, unless it
turns (``..., but (B) seems closer``).

**Rules**, from most to least explicit; the first that decides wins:

1. *Explicit answer marker* (``the answer is (B)``, ``Answer: C``, ``I would choose the third image``,
   ``the closest match is: (B)``, ``(B) is the correct answer``): the last one wins, since a later
   statement revises an earlier one; ``(A) or (B)`` after a marker is a hedge and ignored; a marker
   naming a letter beyond the options gives ``None`` (the model picked no valid option).
2. *Leading label*: the reply opens with a label (``(B) no``, ``A) left``, a bare ``B``) that does not
   start a list of labelled lines. Short replies and answer-first replies look like this.
3. *Decline*: ``None`` when the last sentence declining to choose comes after every concluding sentence
   (rule 4). A mere doubt about certainty (``cannot say for certain``) after a pick is a disclaimer.
4. *Conclusion*: the last sentence with a conclusion cue (``therefore``, ``so``, ``the best``, ``most``,
   ``I believe`` ...) or a turn (``However, ...``) that affirms an option decides, if it affirms one.
   Reasoning replies end with their pick; the analysis before it mentions every option.
5. *Opening sentence*: the first sentence that mentions an option decides, if it affirms one and the
   reply is not an option-by-option list (``Box B more accurately encloses ...``, ``No, the cat ...``).
6. *Single mention*: the whole reply mentions exactly one option and affirms it.

Otherwise ``None``. Each rule is deliberately general (no phrase of a particular model or dataset); the
agreement with BLINK's own extraction on nine models is measured by ``benchmarks/parsing_agreement.py``.
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
_NO_ANSWER = -1
"""What a rule returns to end the search with None: the text declines to choose."""
_Span = tuple[int, int]

# --- normalisation -----------------------------------------------------------------------------------

_SPECIAL_TOKEN_RE = re.compile(r"</?s>|<\|[^|<>\s]{1,30}\|>|\[/?INST\]")
_MARKDOWN_RE = re.compile(r"(?<!\w)_{1,3}|_{1,3}(?!\w)|^#{1,6}[ \t]*", re.MULTILINE)
_QUOTES = "\"'\u2018\u2019\u201c\u201d"
_QUOTED_LETTER_RE = re.compile(rf"[{_QUOTES}]([A-E])[{_QUOTES}]")
_BRACKETS = str.maketrans(
    {"[": "(", "]": ")", "\u3010": "(", "\u3011": ")", "\u3014": "(", "\u3015": ")", "\u2019": "'"}
)


def _normalize(text: str) -> str:
    """NFKC-fold, unify brackets, unquote letters, drop special tokens and markdown; strip."""
    text = unicodedata.normalize("NFKC", text)
    text = _QUOTED_LETTER_RE.sub(r"\1", text).translate(_BRACKETS)
    text = _SPECIAL_TOKEN_RE.sub(" ", text).replace("*", "").replace("`", "")
    if "_" in text or "#" in text:
        text = _MARKDOWN_RE.sub("", text)
    return text.strip()


# --- option texts ------------------------------------------------------------------------------------

_NUMBER_WORDS = (
    *("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"),
    *("eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen"),
    *("nineteen", "twenty"),
)
_ORDINALS = frozenset({"first", "second", "third", "fourth", "fifth", "1st", "2nd", "3rd", "4th", "5th"})
_PARENTHETICAL = (
    r"(?:\s*,[^,.;:!?\n]{1,120},|\s+(?:which|that|who)\s[^,.;:!?\n]{1,80}?"
    r"|\s+(?:on|in|at|near|of)\s[^,.;:!?\n]{1,40}?)?"
)
_COPULA = (
    r"(?:\w+ly\s+)?(?:is|are|was|would\s+be|will\s+be|(?:appears?|seems?|looks?)(?:\s+to\s+be)?"
    r"|(?:(?:appears?|seems?)\s+to\s+have|has|have)\s+(?:a|the))(?:\s+\w+ly)?"
)
_ITEM_NOUN = (
    r"(?:one|image|picture|photo|photograph|painting|drawing|artwork|figure|panel|frame|option|choice|item"
    r"|candidate|sample|shot|view|pic)"
)


def _word_pattern(word: str, previous: str | None) -> str:
    """The regex for one word of an option text: ``is`` admits copula variants (``appears to be``,
    ``is likely``) and the noun after an ordinal admits any generic item noun (``the third one``,
    ``third picture``)."""
    if word.lower() in {"is", "are"}:
        return _COPULA
    if previous is not None and previous.lower() in _ORDINALS:
        return rf"(?:{re.escape(word)}|{_ITEM_NOUN})"
    return re.escape(word)


def _choice_pattern(choice: str) -> str | None:
    """A regex for an option text as whole words, or None for an empty text (see the module docstring)."""
    words = choice.strip().rstrip(".").split()
    if not words:
        return None
    prefix = ""
    if words[0].lower() == "the" and len(words) > 1:
        prefix, words = r"(?:the\s+)?", words[1:]
    parts = [_word_pattern(w, words[i - 1] if i else None) for i, w in enumerate(words)]
    body = parts[0] + (_PARENTHETICAL + "".join(rf"\s+{p}" for p in parts[1:]) if len(parts) > 1 else "")
    if len(words) == 1 and words[0].isdecimal() and int(words[0]) < len(_NUMBER_WORDS):
        body = rf"(?:{body}|{_NUMBER_WORDS[int(words[0])]})"
    return rf"(?<![\w.]){prefix}{body}(?!\w|\.\d)"


@lru_cache(maxsize=256)
def _choice_regexes(choices: tuple[str, ...]) -> tuple[re.Pattern[str] | None, ...]:
    """One compiled, case-insensitive regex per option text (None for an empty text)."""
    patterns = (_choice_pattern(c) for c in choices)
    return tuple(re.compile(p, re.IGNORECASE) if p else None for p in patterns)


# --- mentions ----------------------------------------------------------------------------------------

_LETTER = r"([A-E])(?![\w'])"
_NOUN = (
    r"(?i:option|choice|answer|candidate|picture|image|figure|panel|(?:labell?ed|marked)(?:\s+(?:with|as))?)"
)
_LABEL_RE = re.compile(
    r"\(([A-E])\)"  # (B)
    r"|(?m:^[ \t]*(?:[-*•>][ \t]*)?([A-E])[).:](?=\s|$))"  # a line starting "B)" "B." "B:"
    rf"|(?=[ocapifmlOCAPIFML])\b{_NOUN}[ \t]*\(?{_LETTER}"  # option B, picture (C)
)
_CONTRAST_CLAUSE_RE = re.compile(
    r"(?=[tTwWcCrRiIuUaAvV])\b(?:than|whereas|while|compared (?:to|with)|rather than|instead of|unlike"
    r"|as opposed to|in contrast to|versus|vs\.)[^,;:.!?\n]*",
    re.IGNORECASE,
)
_NEGATED_BEFORE_RE = re.compile(
    r"(?:\bnot|n't|\bnor|\bneither|\bexcept)(?:\s+(?:the|to|with|that|those|of|in|for|from|be)\b)*\s*$",
    re.IGNORECASE,
)
_NEGATED_AFTER_RE = re.compile(
    r"\s*(?:\([^)]*\)\s*)?(?:,[^,]{0,40},\s*)?(?:is|are|was|does|do|has|seems|appears)?\s*"
    r"(?:not|n't|incorrect|wrong|less|too|only)\b"
    r"|\s*,\s*(?:on the other hand|in contrast|by contrast|conversely|however)\s*,",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class _Mention:
    """A mention of option ``index`` at ``text[start:end]``: a letter label (``label``) or the option's
    text; ``contrasted`` as in the module docstring."""

    start: int
    end: int
    index: int
    contrasted: bool = False
    label: bool = False


_ORDINAL = r"(?:first|second|third|fourth|fifth|1st|2nd|3rd|4th|5th)"
_ORDINAL_APPOSITIVE_RE = re.compile(
    rf"(?=[fFsStT1-5])\b(?i:{_ORDINAL})\s+(?!(?i:option|choice|answer)\b)"
    r"(?:[\w-]+\s+){0,2}(?=\([A-E]\))"
)


_LETTER_LIST_RE = re.compile(r"\)?\s*(?:,\s*(?:and\s+|or\s+)?|\s(?:and|or|&)\s+|/)\s*\(?[A-E](?![\w'])")


_LETTER_LIST_BEFORE_RE = re.compile(r"(?<![\w'])[A-E]\)?\s*(?:,\s*(?:and|or)?|\s(?:and|or|&)|/)\s*$")


def _label_spans(text: str, n: int) -> list[tuple[int, int, int]]:
    """``(start, end, index)`` of every label mention with a letter valid for ``n`` options.

    A label right after an ordinal phrase (``the second image (B)``) is the model's own name for that
    item, not an option: the phrase itself decides (it is an option mention when it is an option text).
    A label that opens a list of letters (``points labeled A and B``, ``(A) or (B)``) names no choice."""
    appositive = {m.end() for m in _ORDINAL_APPOSITIVE_RE.finditer(text)}
    found = []
    for match in _LABEL_RE.finditer(text):
        group = next(g for g in range(1, 4) if match.group(g))
        in_list = _LETTER_LIST_RE.match(text, match.end()) or _LETTER_LIST_BEFORE_RE.search(
            text, max(0, match.start() - 12), match.start()
        )
        if match.start(group) - 1 in appositive or in_list:
            continue
        index = LETTERS.index(match.group(group))
        if index < n:
            found.append((match.start(), match.end(), index))
    return found


_PARTICLES = frozenset({"yes", "no"})
_WORD_FOLLOWS_RE = re.compile(r"[ \t]+[a-z]")


def _text_spans(text: str, regexes: Sequence[re.Pattern[str] | None]) -> list[tuple[int, int, int]]:
    """``(start, end, index)`` of every option-text occurrence; of overlapping ones the longer is kept.

    ``yes``/``no`` count as answers only when no word follows: ``No, the cat ...`` is an answer, the
    determiner in ``there is no table`` is not."""
    found = [
        (m.start(), m.end(), k)
        for k, regex in enumerate(regexes)
        if regex is not None
        for m in regex.finditer(text)
        if not (m.group().lower() in _PARTICLES and _WORD_FOLLOWS_RE.match(text, m.end()))
    ]
    found.sort(key=lambda s: (s[0], s[0] - s[1]))
    kept: list[tuple[int, int, int]] = []
    for span in found:
        if not kept or span[0] >= kept[-1][1]:
            kept.append(span)
    return kept


_ORDINAL_LIST_RE = re.compile(
    rf"(?=[fFsStT1-5])\b{_ORDINAL}(?:(?:\s*,\s*(?:and\s+|or\s+)?|\s+(?:and|or|nor)\s+){_ORDINAL}\b)+",
    re.IGNORECASE,
)


def _mentions(text: str, regexes: tuple[re.Pattern[str] | None, ...]) -> tuple[_Mention, ...]:
    """All mentions in ``text`` in order of position, each marked contrasted or not.

    An option text inside a list of ordinals (``the second, third, or fourth image``) is no mention; a
    label and the option's text side by side (``(B) Point B``) are one mention."""
    clauses = [m.span() for m in _CONTRAST_CLAUSE_RE.finditer(text)]
    lists = [m.span() for m in _ORDINAL_LIST_RE.finditer(text)]
    text_spans = [s for s in _text_spans(text, regexes) if not any(a <= s[0] < b for a, b in lists)]
    labelled = [(*span, True) for span in _label_spans(text, len(regexes))]
    spans: list[tuple[int, int, int, bool]] = []
    for span in sorted(labelled + [(*span, False) for span in text_spans]):
        if spans and spans[-1][2] == span[2] and not text[spans[-1][1] : span[0]].strip(" \t)"):
            last = spans[-1]  # "(B) Point B" is one mention
            spans[-1] = (last[0], max(last[1], span[1]), span[2], last[3] or span[3])
        else:
            spans.append(span)
    mentions = []
    for start, end, index, label in spans:
        contrasted = (
            any(a <= start < b for a, b in clauses)
            or bool(_NEGATED_BEFORE_RE.search(text, max(0, start - 30), start))
            or bool(_NEGATED_AFTER_RE.match(text, end, end + 60))
        )
        mentions.append(_Mention(start, end, index, contrasted, label))
    return tuple(mentions)


# --- context -----------------------------------------------------------------------------------------

_SENTENCE_END_RE = re.compile(r"(?<=[.!?])[ \t]+(?=[^a-z\s])|\n\s*")


def _sentences(text: str, items: Sequence[int]) -> tuple[_Span, ...]:
    """Sentence spans. A sentence ending in ``:`` is joined with the next (``the answer is:\n(B)``),
    unless the next opens an item of an option-by-option list (``items``: where the items start) other
    than the last item."""
    spans: list[_Span] = []
    start = 0
    for match in _SENTENCE_END_RE.finditer(text):
        spans.append((start, match.start()))
        start = match.end()
    spans.append((start, len(text)))
    merged: list[_Span] = []
    for span in spans:
        if span[0] == span[1]:
            continue
        opens_item = any(span[0] <= p < span[1] for p in items[:-1])
        if merged and text[merged[-1][0] : merged[-1][1]].rstrip().endswith(":") and not opens_item:
            merged[-1] = (merged[-1][0], span[1])
        else:
            merged.append(span)
    return tuple(merged) or ((0, len(text)),)


_LINE_START_RE = re.compile(r"^[ \t]*(?:(?:[-*•>]|\d{1,2}[.)])[ \t]*)?", re.MULTILINE)


def _list_items(text: str, mentions: Sequence[_Mention]) -> list[int]:
    """Where the items of an option-by-option list start: the mentions that open a line (or a list
    item), when they name more than one option; else an empty list."""
    starts = {p for m in _LINE_START_RE.finditer(text) for p in m.span()}
    items = [m for m in mentions if m.start in starts]
    return [m.start for m in items] if len({m.index for m in items}) > 1 else []


@dataclass(frozen=True)
class _Context:
    """A normalised answer with its options' regexes, mentions and sentence spans."""

    text: str
    n: int
    regexes: tuple[re.Pattern[str] | None, ...]
    multiword: tuple[bool, ...]
    mentions: tuple[_Mention, ...]
    sentences: tuple[_Span, ...]
    enumerates: bool
    """Whether lines (or list items) open by mentioning different options: an option-by-option list."""
    subjects: int
    """How many options open a sentence uncontrasted (``The second image shows ... The third ...``)."""


def _context(text: str, choices: Sequence[str]) -> _Context:
    """Normalise ``text`` and collect what the rules need."""
    norm = _normalize(text)
    regexes = _choice_regexes(tuple(choices))
    multiword = tuple(len(c.split()) > 1 for c in choices)
    mentions = _mentions(norm, regexes)
    items = _list_items(norm, mentions)
    sentences = _sentences(norm, items)
    starts = {span[0] for span in sentences}
    subjects = len({m.index for m in mentions if m.start in starts and not m.contrasted})
    return _Context(norm, len(choices), regexes, multiword, mentions, sentences, bool(items), subjects)


# --- shared helpers ----------------------------------------------------------------------------------

_TARGET_LETTER_RE = re.compile(rf"\(?(?:{_NOUN}[ \t]*)?\(?{_LETTER}\)?")
_TARGET_SKIP_RE = re.compile(r"""[\s:="'\-]*""")
_HEDGE_RE = re.compile(r"\s*(?:(?:,\s*)?(or|and|/|&)\s+)?", re.IGNORECASE)
_SPACES_RE = re.compile(r"\s*")
_REJECT_RE = re.compile(
    r"\b(?:neither\b[^.!?\n]{1,40}?\bnor|neither of|none of"
    r"|no (?:correct|right|valid|single) (?:answer|option|choice)"
    r"|not (?:among|in|one of) the (?:given |provided )?(?:options|choices)"
    r"|(?:do not|don't|would not|wouldn't) feel comfortable|(?:prefer|have) not to|(?:decline|refuse) to)\b",
    re.IGNORECASE,
)
_INABILITY_RE = re.compile(
    r"\b(?:cannot|can't|can not|could not|couldn't|unable to|not possible to|impossible to|not able to"
    r"|difficult to|hard to|challenging to)\s+(?:\w+\s+){0,2}?"
    r"(?:determine|tell|decide|say|identify|conclude|know|be determined|choose|select|answer)\b",
    re.IGNORECASE,
)
_CERTAINTY_RE = re.compile(
    r"\b(?:certain|certainty|sure|definitive|definitively|conclusive|conclusively|exact|exactly|precise"
    r"|precisely|absolute|absolutely|confident|confidently|confidence|accurately)\b",
    re.IGNORECASE,
)
_CONCESSIVE_RE = re.compile(r"\b(?:while|whilst|although|though)\b[^,;:]*$", re.IGNORECASE)
_BUT_RE = re.compile(r"\b(?:but|however|though|nevertheless|still|yet)\b", re.IGNORECASE)
_COMMA_RE = re.compile(",")
_TURN_START_RE = re.compile(r"\s*(?:but|however|nevertheless|still|that said|even so)\b", re.IGNORECASE)


_ENDS_CLAUSE_RE = re.compile(r"\s*(?:[.!?;,](?:\s|$)|$)")


def _target_at(ctx: _Context, pos: int, *, strict: bool = False) -> tuple[int, int] | None:
    """The option named right at ``pos`` (after spaces, quotes, colons) as ``(index, end)``, else None.

    A letter (``B``, ``(B)``, ``option B``), with the option's text if it follows, is tried first, then
    the option texts (longest match). A letter beyond the options gives index ``_NO_ANSWER``. ``strict``
    refuses what could be ordinary prose after a verb: a bare letter that does not end the clause
    (``is A red ...``) and a one-word option text (``is no ...``, ``is right ...``)."""
    pos = _TARGET_SKIP_RE.match(ctx.text, pos).end()  # type: ignore[union-attr]
    letter = _TARGET_LETTER_RE.match(ctx.text, pos)
    bare = letter is not None and letter.group()[0] == letter.group(1)
    if letter and not (strict and bare and not _ENDS_CLAUSE_RE.match(ctx.text, letter.end())):
        index = LETTERS.index(letter.group(1))
        if index >= ctx.n:
            return _NO_ANSWER, letter.end()
        regex = ctx.regexes[index]
        text = regex.match(ctx.text, _SPACES_RE.match(ctx.text, letter.end()).end()) if regex else None  # type: ignore[union-attr]
        return index, text.end() if text else letter.end()
    best: tuple[int, int] | None = None
    for k, regex in enumerate(ctx.regexes):
        match = regex.match(ctx.text, pos) if regex is not None else None
        if match and (not strict or ctx.multiword[k]) and (best is None or match.end() > best[1]):
            best = (k, match.end())
    return best


def _is_hedged(ctx: _Context, target: tuple[int, int]) -> bool:
    """True when the option ``target`` is followed by a different one: after ``or``/``and``/``/``, or
    directly as in a list of labels (``(A) picture A (B) picture B``). Repeats of the same option
    (``(A) picture A``) are skipped."""
    end = target[1]
    for _ in range(3):
        hedge = _HEDGE_RE.match(ctx.text, end)
        following = _target_at(ctx, hedge.end()) if hedge else None
        if hedge is None or following is None:
            return False
        if following[0] != target[0]:
            return bool(hedge.group(1)) or ctx.text[hedge.end()] == "("
        end = following[1]
    return False


_HYPOTHETICAL_RE = re.compile(
    r"\s*(?:for (?:example|instance),?\s*)?(?:if|suppose|supposing|assuming)\b"
    r"(?![^,.;:]*\b(?:had|have|must|were|forced|asked|need|needed|required)\b)",
    re.IGNORECASE,
)


def _affirmed(ctx: _Context, span: _Span) -> set[int] | None:
    """The options mentioned uncontrasted in ``span``; None when ``span`` mentions no option at all.

    A span that declines to choose (``I cannot determine ...``) affirms nothing, unless it goes on to
    commit (``... cannot say for sure, but (B) ...``): then only what follows the turn counts. A
    hypothetical (``If the point is on the left, then Point A ...``) affirms nothing, but a forced pick
    (``If I had to choose, ...``) does."""
    inside = [m for m in ctx.mentions if span[0] <= m.start < span[1]]
    if not inside:
        return None
    if _HYPOTHETICAL_RE.match(ctx.text, span[0]):
        return set()
    decline = _decline(ctx, span)
    if decline is not None:
        inside = [m for m in inside if m.start >= decline[0]]
    return {m.index for m in inside if not m.contrasted}


def _decline(ctx: _Context, span: _Span) -> tuple[int, bool] | None:
    """How ``span`` declines to choose, or None when it does not: ``(resume, weak)``.

    Declining is ``neither ... nor``, ``none of``, ``I would prefer not to``, ``I cannot determine`` ...;
    it is *weak* when it only doubts certainty (``cannot say for certain``). ``resume`` is where the span
    commits again: the end of a turn (``but``, ``however``, or the comma closing a concessive clause:
    ``while I cannot decide, ...``) after the decline, else ``span[1]`` (never)."""
    found = [(m, False) for m in _REJECT_RE.finditer(ctx.text, span[0], span[1])] + [
        (m, bool(_CERTAINTY_RE.search(ctx.text, m.start(), min(span[1], m.end() + 40))))
        for m in _INABILITY_RE.finditer(ctx.text, span[0], span[1])
    ]
    if not found:
        return None
    decline, weak = max(found, key=lambda pair: pair[0].start())
    if _CONCESSIVE_RE.search(ctx.text, span[0], decline.start()):
        turn = _COMMA_RE.search(ctx.text, decline.end(), span[1])
    else:
        turn = _BUT_RE.search(ctx.text, decline.end(), span[1])
    return (turn.end() if turn else span[1]), weak


def _one(options: set[int] | None) -> int | None:
    """The option when ``options`` holds exactly one, else None."""
    return next(iter(options)) if options and len(options) == 1 else None


_LINE_LABEL_RE = re.compile(r"^[ \t]*(?:[-*•>][ \t]*)?\(?([A-E])[).:](?=\s|$)", re.MULTILINE)


def _labels_lines(ctx: _Context) -> bool:
    """True when several lines start with different option labels (``(A) ...``, ``(B) ...``)."""
    return len({m.group(1) for m in _LINE_LABEL_RE.finditer(ctx.text)}) > 1


# --- rules -------------------------------------------------------------------------------------------

_VERB = r"(?:is|would be|will be|should be|must be|remains)"
_MARKER_NOUN = r"(?:answer|choice|option|selection|response|pick|match)"
_MARKER_RE = re.compile(
    r"(?=[acoprsmfbltiwyACOPRSMFBLTIWY])"  # the first letters below: a cheap filter
    rf"(?:\b{_MARKER_NOUN}\b[^.!?\n]{{0,80}}?\b{_VERB}\b"  # the (correct) answer (for ...) is
    r"(?:\s+(?:likely|probably|most likely|clearly|definitely|therefore|thus|then))?(?:\s*:)?"
    rf"|(?:^|(?<=[.!?]\s)|\b(?:final|correct|best|right|my|our|the)\s+){_MARKER_NOUN}\s*[:=]"  # Answer: B
    r"|\b(?:I|we|let's|let us)(?:\s+(?:would|will|must|can|might|could|should)|'d|'ll)?(?:\s+\w+ly)?"
    r"\s+(?:choose|select|pick|go with|opt for|lean towards?|say|suggest|think|believe|guess|conclude)\b"
    r"(?:\s+that\b)?)",  # I would choose, I might lean towards, I think that
    re.IGNORECASE | re.MULTILINE,
)
_COPULA_MARKER_RE = re.compile(rf"\b{_VERB}(?:\s*:)?", re.IGNORECASE)
_REVERSE_MARKER_RE = re.compile(
    r"\s*(?:\([^)]*\)\s*)?(?:is|would be|seems to be|appears to be)\s+(?:the\s+)?"
    r"(?:(?:most\s+)?(?:likely|best|correct|right|appropriate|accurate|final)\s+)*"
    r"(?:answer|choice|option|correct|right)\b",
    re.IGNORECASE,
)


_BARE_LETTER_RE = re.compile(r"(?<![\w'(])([A-E])(?![\w')])")


def _marker_hits(ctx: _Context) -> list[tuple[int, int]]:
    """``(position, option)`` of every unhedged answer marker naming an option (``the answer is (B)``,
    ``(B) is correct``, ``B is the answer``); the option is ``_NO_ANSWER`` when an ``answer is`` marker
    names a letter beyond the options."""
    hits = []
    for regex, strict in ((_MARKER_RE, False), (_COPULA_MARKER_RE, True)):
        for match in regex.finditer(ctx.text):
            target = _target_at(ctx, match.end(), strict=strict)
            if target is None or (strict and target[0] == _NO_ANSWER) or _is_hedged(ctx, target):
                continue
            hits.append((match.start(), target[0]))
    hits.extend(
        (m.start, m.index)
        for m in ctx.mentions
        if _REVERSE_MARKER_RE.match(ctx.text, m.end) and not m.contrasted
    )
    for letter in _BARE_LETTER_RE.finditer(ctx.text):  # "B is correct": no article is followed by "is"
        index = LETTERS.index(letter.group(1))
        if index < ctx.n and _REVERSE_MARKER_RE.match(ctx.text, letter.end()):
            hits.append((letter.start(), index))
    return hits


def _explicit_marker(ctx: _Context) -> int | None:
    """Rule 1: the option named by the last answer marker (``_NO_ANSWER`` if it names an invalid letter)."""
    hits = _marker_hits(ctx)
    return max(hits)[1] if hits else None


_LEADING_RE = re.compile(r"\(?([A-E])(?:\)|[.:](?=\s|$)|\s*$|\s*\n|\s+-\s)")


def _leading_label(ctx: _Context) -> int | None:
    """Rule 2: the label the text opens with, unless it opens an enumeration (labelled lines, or another
    option labelled uncontrasted anywhere) or a hedge; ``_NO_ANSWER`` when it is beyond the options."""
    match = _LEADING_RE.match(ctx.text)
    if not match:
        return None
    index = LETTERS.index(match.group(1))
    if index >= ctx.n:
        return _NO_ANSWER
    others = any(m.index != index and m.label and not m.contrasted for m in ctx.mentions)
    if others or _is_hedged(ctx, (index, match.end())):
        return None
    return None if _labels_lines(ctx) else index


_CUE_RE = re.compile(
    r"(?:^|[(\"'])\s*(?:so|overall|based on|given|considering|ultimately|finally|hence|thus|therefore)\b"
    r"|\b(?:therefore|thus|hence|consequently|in summary|in conclusion|to conclude|to summarize|in short"
    r"|correct|best|most|closest|better|more likely|more appropriate|choose|select|pick|I believe|I think"
    r"|I would|my (?:answer|assessment|choice|guess)|final)\b",
    re.IGNORECASE,
)


def _concludes(ctx: _Context, span: _Span) -> bool:
    """True when ``span`` affirms an option and reads as a conclusion (a cue) or a turn (``However, ...``)."""
    return bool(_affirmed(ctx, span)) and bool(
        _CUE_RE.search(ctx.text[span[0] : span[1]]) or _TURN_START_RE.match(ctx.text, span[0])
    )


def _declines(ctx: _Context) -> int | None:
    """Rule 3: ``_NO_ANSWER`` when the text's last word on the choice declines it: the last sentence
    that declines (and does not turn to a pick) comes after every concluding sentence. A weak decline
    (``cannot say for certain``) after a conclusion that affirms one option is a disclaimer, not a decline."""
    for i in range(len(ctx.sentences) - 1, -1, -1):
        span = ctx.sentences[i]
        decline = _decline(ctx, span)
        if decline is not None and decline[0] == span[1]:
            weak = decline[1]
            earlier = ctx.sentences[:i]
            disclaimer = weak and any(
                _concludes(ctx, s) and _one(_affirmed(ctx, s)) is not None for s in earlier
            )
            return None if disclaimer else _NO_ANSWER
        if _concludes(ctx, span):
            return None
    return None


def _conclusion(ctx: _Context) -> int | None:
    """Rule 4: the option of the last concluding sentence (a cue or a turn such as ``However, ...``, and
    an affirmed option), if it affirms only one."""
    for span in reversed(ctx.sentences):
        if _concludes(ctx, span):
            return _one(_affirmed(ctx, span))
    return None


_EVALUATIVE_RE = re.compile(
    r"\b(?:more|less|better|worse|closer|best|most|least|correct|right|accurate|accurately|yes|no)\b"
    r"|\w+er\s+than\b",
    re.IGNORECASE,
)


def _opening_sentence(ctx: _Context) -> int | None:
    """Rule 5: the option affirmed by the first sentence that mentions any, unless the text is an
    option-by-option analysis: a list, or sentences describing one option after another when that first
    sentence does not evaluate (``The second image shows a cat. The third image shows ...``)."""
    if ctx.enumerates:
        return None
    for span in ctx.sentences:
        options = _affirmed(ctx, span)
        if options is not None:
            describes = ctx.subjects > 1 and not _EVALUATIVE_RE.search(ctx.text, span[0], span[1])
            return None if describes else _one(options)
    return None


def _single_mention(ctx: _Context) -> int | None:
    """Rule 6: the option when the whole text mentions exactly one, and affirms it at least once."""
    if len({m.index for m in ctx.mentions}) != 1:
        return None
    return _one(_affirmed(ctx, (0, len(ctx.text))))


_RULES: tuple[Callable[[_Context], int | None], ...] = (
    _explicit_marker,
    _leading_label,
    _declines,
    _conclusion,
    _opening_sentence,
    _single_mention,
)


def parse_choice(text: str, choices: Sequence[str]) -> str | None:
    """The letter of the option ``text`` commits to, or None when it commits to no single option.

    Args:
        text: a model's free-text answer; any string (the content never makes this raise).
        choices: the option texts in order, 2 to 5 of them; option ``k`` is ``LETTERS[k]``. A text may be
            ``""`` when unknown: then only letter labels can select that option.

    Returns:
        One of ``LETTERS[: len(choices)]``, or None.

    Raises:
        ValueError: when ``choices`` is not a sequence of 2 to 5 strings.
    """
    if not _MIN_CHOICES <= len(choices) <= len(LETTERS) or not all(isinstance(c, str) for c in choices):
        raise ValueError(f"choices must be {_MIN_CHOICES} to {len(LETTERS)} strings, got {choices!r}")
    if not isinstance(text, str) or not text.strip():
        return None
    ctx = _context(text, choices)
    for rule in _RULES:
        index = rule(ctx)
        if index is not None:
            return None if index == _NO_ANSWER else LETTERS[index]
    return None
