"""The learned signal: a linear token classifier over hashed features, run with ONNX Runtime.

The model (``model/model.onnx``, card ``model/card.json``, built by ``training/deid_tokens.py`` on
generated notes: demonstration only) takes the feature indices of :func:`features.featurise`
(``int64 [tokens, SLOTS]``) and returns class probabilities per token (``float32 [tokens,
classes]``). A token is PHI when ``1 - P(O)`` reaches the card's ``decision_threshold`` (chosen on
generated dev notes for recall); its type is the most probable PHI class. Adjacent PHI tokens of
one type, separated only by spaces or ``, . / - '``, become one candidate for the resolver.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

import medserve.text.deid.lexicon as lex
from medserve.errors import ModelIntegrityError
from medserve.serving.cards import ModelCard, load_card
from medserve.serving.runtime import create_session
from medserve.text.deid.features import MODEL_DIR, Token, featurise, safe_words
from medserve.text.deid.names import _eponym_use
from medserve.text.deid.tokens import _Token
from medserve.text.deid.types import _PRIORITY, _Candidate

if TYPE_CHECKING:
    import onnxruntime as ort

__all__ = ["TokenModel", "token_model"]

_JOIN = re.compile(r"[ \t]*[,./'\-]?[ \t]*")
_STOP = frozenset(lex.COMMON_WORDS) | frozenset(lex.NOT_NAME_WORDS)
# Below every rule: where a rule fires, its span and type stand; the model adds what it left.
MODEL_PRIORITY = -100
GROW_THRESHOLD = 0.1  # P(NAME) that a word beside a NAME hit needs


@dataclass
class TokenModel:
    card: ModelCard
    session: ort.InferenceSession

    @property
    def labels(self) -> list[str]:
        return self.card.outputs.labels

    def probabilities(self, ids: np.ndarray) -> np.ndarray:
        (probabilities,) = self.session.run(
            [self.card.outputs.probability_tensor], {self.card.inputs.tensor: ids}
        )
        return probabilities

    def candidates(self, text: str, tokens: list[Token] | None = None) -> Iterator[_Candidate]:
        tokens, ids = featurise(text, tokens)
        if not tokens:
            return
        probabilities = self.probabilities(ids)
        threshold = self.card.outputs.decision_threshold
        labels = self.labels
        phi = 1.0 - probabilities[:, 0]
        kinds = probabilities[:, 1:].argmax(axis=1) + 1
        hits = phi >= threshold
        # Hysteresis: a word joined to a NAME hit needs less evidence ("hope oshodi": the second
        # word is sure, the first is an English word too). Grown once each way, not chained.
        name = labels.index("NAME")
        weak = (probabilities[:, name] >= GROW_THRESHOLD) & ~hits
        seeds = hits & (kinds == name)
        for i in np.flatnonzero(weak):
            for j in (i - 1, i + 1):
                if 0 <= j < len(tokens) and seeds[j]:
                    a, b = (j, i) if j < i else (i, j)
                    if (
                        _JOIN.fullmatch(text, tokens[a].end, tokens[b].begin)
                        and "\n" not in text[tokens[a].end : tokens[b].begin]
                    ):
                        hits[i] = True
                        kinds[i] = name
        # A lower-case everyday word ("and", "to") is PHI only inside a run ("Visiting Nurse
        # Association of Greater Lynn"), never at its edge.
        known = safe_words()
        own_hits = phi >= threshold
        for i, t in enumerate(tokens):
            if not hits[i]:
                continue
            inside = 0 < i < len(tokens) - 1 and hits[i - 1] and hits[i + 1]
            if (
                t.text.islower()
                and not inside
                and (
                    t.text in _STOP
                    or (
                        t.text in known
                        and phi[i] < 0.9
                        and not _given_name(text, tokens, i, own_hits, kinds == name, known)
                    )
                )
            ):
                hits[i] = False  # "Dr. Hill follows": an English word at a name's edge
            elif _eponym_use(text, _Token(t.text, t.begin, t.end)):
                hits[i] = False  # "Barrett esophagus", "Graves disease": the rules' eponym test
                if i + 1 < len(tokens) and tokens[i + 1].text.islower():
                    hits[i + 1] = False
            elif t.text in lex.STATE_CODES or t.text.lower() in lex.STATE_NAMES:
                hits[i] = False  # states are not identifiers under Safe Harbor
            elif labels[int(kinds[i])] == "DATE" and not _calendar_sane(text, t):
                hits[i] = False  # "BP 132/76", "1/2 tablet": numbers no calendar has
        run: list[int] = []
        for i in range(len(tokens) + 1):
            hit = i < len(tokens) and bool(hits[i])
            if run and (
                not hit
                or kinds[i] != kinds[run[-1]]
                or not _JOIN.fullmatch(text, tokens[run[-1]].end, tokens[i].begin)
            ):
                type_ = labels[int(kinds[run[0]])]
                score = float(phi[run].mean())
                begin, end = tokens[run[0]].begin, tokens[run[-1]].end
                yield _Candidate(type_, begin, end, score, _PRIORITY[type_] + MODEL_PRIORITY)
                run = []
            if hit:
                run.append(i)


def _given_name(
    text: str, tokens: list[Token], i: int, hits: np.ndarray, names: np.ndarray, known: frozenset[str]
) -> bool:
    """A lower-case English word the model calls a name on its own, just before a lower-case name
    word that is on no word list ("hope oshodi", "grant okonkwo, np"): a given name that is also a
    word. The word after a name ("Dr. Hill follows") is not one, nor a word before a capitalised
    or known word."""
    j = i + 1
    if j >= len(tokens) or not (hits[i] and hits[j] and names[i] and names[j]):
        return False
    nxt = tokens[j].text
    return (
        nxt.islower()
        and nxt not in known
        and nxt not in _STOP
        and text[tokens[i].end : tokens[j].begin] in (" ", "\t")
    )


_NUMBER_GROUP = re.compile(r"\d+(?:[/.-]\d+)+")


def _calendar_sane(text: str, token: Token) -> bool:
    """A numeric date token must sit in a group a calendar has: m/d, m/yy, m/d/yy, yyyy-mm-dd."""
    if not (token.text.isascii() and token.text.isdigit()):
        return True
    start = token.begin
    while start > 0 and (
        text[start - 1].isdigit() or (text[start - 1] in "/.-" and start > 1 and text[start - 2].isdigit())
    ):
        start -= 1
    m = _NUMBER_GROUP.match(text, start)
    if not m or m.end() < token.end:
        return True  # a lone number: the model's call
    parts = [int(p) for p in re.split(r"[/.-]", m.group())]
    if len(parts) == 2:
        a, b = parts
        return 1 <= a <= 12 and (1 <= b <= 31 or 32 <= b <= 99 or 1900 <= b <= 2100)
    if len(parts) == 3:
        if parts[0] > 999:
            return 1 <= parts[1] <= 12 and 1 <= parts[2] <= 31
        return (1 <= parts[0] <= 12 and 1 <= parts[1] <= 31) or (1 <= parts[1] <= 12 and 1 <= parts[0] <= 31)
    return False


@lru_cache(maxsize=1)
def token_model() -> TokenModel:
    """The bundled model, loaded once per process; its bytes checked against the card."""
    card = load_card(MODEL_DIR)
    for spec in card.artifacts():
        digest = hashlib.sha256((MODEL_DIR / spec.file).read_bytes()).hexdigest()
        if digest != spec.sha256:
            raise ModelIntegrityError(
                f"bundled de-identification model file {spec.file} does not match its card"
            )
    return TokenModel(card, create_session(MODEL_DIR / card.artifact.file, threads=1))
