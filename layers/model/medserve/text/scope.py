"""Intended-use gating of notes: language and length against the card's ``intended_use_gate.text``.

The language check is cheap on purpose (no language-identification model in the layer):

* **Latin letter share**: of the note's letters (``str.isalpha``), the share in the Latin blocks
  (Basic Latin, Latin-1 Supplement, Latin Extended-A/B: U+0000-U+024F). Catches Cyrillic, Greek,
  CJK, Arabic, Devanagari... notes.
* **function-word hits**: the note's words (runs of letters) counted against short lists of
  function words of English and of six other languages written in Latin letters
  (:data:`FUNCTION_WORDS`: French, German, Spanish, Italian, Portuguese, Dutch; words that are also
  English left out; words in capitals, clinical abbreviations such as LA or LE, do not count
  for the other languages). A note with at least ``foreign_function_words_min`` function words of one other
  language, more than its English ones, is not English. A terse English note ("CP, SOB x2d") has
  few function words of any language and passes.

The training notes' own lowest values are recorded beside the thresholds in the card. Refusals
state the measured shares and counts, never the text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from medserve.errors import OutOfScope
from medserve.serving.cards import ModelCard, TextGate

__all__ = ["FUNCTION_WORDS", "LanguageProfile", "check_scope", "language_profile"]

_ENGLISH = frozenset(
    """a about above after again against all am an and any are as at be because been before being
    below between both but by can could did do does doing down during each few for from further had
    has have having he her here hers him his how i if in into is it its itself just me more most my
    no nor not now of off on once only or other our out over own same she should so some such than
    that the their them then there these they this those through to too under until up very was we
    were what when where which while who whom why will with would you your""".split()
)
FUNCTION_WORDS: dict[str, frozenset[str]] = {
    "en": _ENGLISH,
    "fr": frozenset(
        """le la les des du une et est avec pour dans sur par au aux ce cette qui que ne pas il elle
        sont depuis chez""".split()
    ),
    "de": frozenset(
        """der das den dem des und ist mit von zu nicht ein eine einer auf für bei seit sich im nach
        wird wurde oder auch""".split()
    ),
    "es": frozenset("el los las del y es con por para una que se su sus desde al como pero está".split()),
    "it": frozenset("il lo gli della delle dei di è con per una che non sono nel alla".split()),
    "pt": frozenset("os do da dos das é com para uma um que não em".split()),
    "nl": frozenset("het een van en met voor zijn niet bij naar ook".split()),
}
_WORD = re.compile(r"[^\W\d_]+")
_LATIN_END = 0x024F


@dataclass(frozen=True)
class LanguageProfile:
    letters: int
    latin_share: float  # of letters
    words: int
    function_words: dict[str, int]  # hits per language of FUNCTION_WORDS

    def dominant_foreign(self) -> tuple[str, int]:
        """The other language with the most function-word hits, and their number."""
        return max(((k, v) for k, v in self.function_words.items() if k != "en"), key=lambda kv: kv[1])


def language_profile(text: str) -> LanguageProfile:
    letters = [c for c in text if c.isalpha()]
    latin = sum(1 for c in letters if ord(c) <= _LATIN_END)
    words = _WORD.findall(text)
    hits = {language: 0 for language in FUNCTION_WORDS}
    for word in words:
        lower = word.lower()
        if lower in _ENGLISH:
            hits["en"] += 1
        elif not word.isupper():  # LA (left atrium), LE (lower extremity), DE... are not French
            for language, vocabulary in FUNCTION_WORDS.items():
                if language != "en" and lower in vocabulary:
                    hits[language] += 1
    return LanguageProfile(
        letters=len(letters),
        latin_share=latin / len(letters) if letters else 0.0,
        words=len(words),
        function_words=hits,
    )


def scope_reasons(gate: TextGate, text: str) -> list[dict]:
    profile = language_profile(text)
    reasons: list[dict] = []
    if gate.max_characters is not None and len(text) > gate.max_characters:
        reasons.append(
            {
                "field": "text",
                "issue": f"the note has {len(text)} characters",
                "accepted_max": gate.max_characters,
            }
        )
    if profile.words < gate.min_words:
        reasons.append(
            {
                "field": "text",
                "issue": f"the note has {profile.words} word(s)",
                "accepted_min": gate.min_words,
            }
        )
    languages = ", ".join(gate.languages)
    if profile.letters and profile.latin_share < gate.min_latin_letter_share:
        reasons.append(
            {
                "field": "text",
                "issue": f"{profile.latin_share:.0%} of its letters are Latin: not {languages}",
                "accepted_min": gate.min_latin_letter_share,
            }
        )
    else:
        other, count = profile.dominant_foreign()
        if count >= gate.foreign_function_words_min and count > profile.function_words["en"]:
            reasons.append(
                {
                    "field": "text",
                    "issue": f"{count} function words of language '{other}' outnumber its English ones "
                    f"({profile.function_words['en']}): not {languages}",
                }
            )
    return reasons


def check_scope(card: ModelCard, text: str) -> None:
    """422 OUT_OF_SCOPE when the card's text gate refuses ``text``; no gate accepts everything."""
    gate = card.intended_use_gate.text if card.intended_use_gate else None
    reasons = scope_reasons(gate, text) if gate is not None else []
    if reasons:
        raise OutOfScope.outside_intended_use("the note", card.name, reasons)
