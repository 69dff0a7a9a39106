"""Clinical note classification on a pretrained sentence encoder, with word attributions.

A text model is three files named by its card: ``model.onnx``, the encoder (all-MiniLM-L6-v2,
int8; inputs ``input_ids``/``attention_mask`` of shape ``(rows, tokens)``, output ``embedding``
``(rows, 384)``: mean of the token states over the mask, L2-normalised, computed in the graph);
``tokenizer.json`` (the encoder's WordPiece tokenizer, run by the ``tokenizers`` library); and
``head.onnx``, a logistic regression from a document embedding (input ``embedding``) to the
card's label probabilities (``outputs.probability_tensor``).

pre_process → predict → post_process:

1. the note is tokenised once; its tokens are cut at word boundaries into chunks of at most
   ``max_tokens - 2`` tokens (so a note of any length is read whole), each framed by [CLS]/[SEP];
2. every chunk is encoded (batched ``session.run``); the document embedding is the L2-normalised
   mean of the chunk embeddings; the head turns it into probabilities over the labels;
3. with ``explain``: leave-one-word-out. Each content word (or, beyond the budget, each group of
   neighbouring words) is removed from its chunk; only that chunk is encoded again, and the change
   of the predicted label's log-odds is the word's attribution (positive: the word supports the
   label). At most ``explanation.max_evaluations`` chunk encodings, in batches.

AI output for routing and triage support, not a diagnosis.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from medserve.errors import InvalidInput, PayloadTooLarge
from medserve.serving.ood import NOT_CALIBRATED, refuse_if_required, scorer_for
from medserve.serving.registry import LoadedModel, Registry
from medserve.serving.runtime import SessionKey, create_session
from medserve.text.scope import check_scope

if TYPE_CHECKING:
    import onnxruntime as ort
    from tokenizers import Tokenizer

__all__ = ["MAX_CHARACTERS", "TextClassifier", "TextEncoder", "load_tokenizer"]

MAX_CHARACTERS = 20_000
DEFAULT_MAX_TOKENS = 256
DEFAULT_BUDGET = 64
_ROWS_PER_RUN = 16
# Words whose removal says nothing about a note's subject: not worth an encoder call.
_STOPWORDS = frozenset(
    """a an the and or but of to in on at by for with from as is are was were be been being has have had
    do does did he she it they we you i his her its their our your him them this that these those
    there here who whom which what when where why how not no nor so than then too very can could may
    might must shall should will would also into onto over under up down out off about after before
    patient pt""".split()
)


def load_tokenizer(path: Path) -> Tokenizer:
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(path))
    tokenizer.no_padding()
    tokenizer.no_truncation()
    return tokenizer


@dataclass(frozen=True)
class _Word:
    begin: int  # character offsets into the note
    end: int
    chunk: int
    tokens: tuple[int, int]  # [start, stop) positions inside the chunk's token list (no [CLS])


@dataclass(frozen=True)
class Encoded:
    """A note as the encoder reads it: token chunks, and the words they are made of."""

    chunks: list[list[int]]  # token ids, without [CLS]/[SEP]
    words: list[_Word]
    n_tokens: int


class TextEncoder:
    """Tokeniser + sentence encoder: notes in, L2-normalised document embeddings out."""

    def __init__(
        self, session: ort.InferenceSession, tokenizer: Tokenizer, max_tokens: int = DEFAULT_MAX_TOKENS
    ):
        if max_tokens < 8:
            raise ValueError("max_tokens must leave room for [CLS], [SEP] and text")
        self.session = session
        self.tokenizer = tokenizer
        self.max_tokens = max_tokens
        self.cls_id = _special(tokenizer, "[CLS]")
        self.sep_id = _special(tokenizer, "[SEP]")
        self.pad_id = _special(tokenizer, "[PAD]")

    @classmethod
    def from_files(cls, model: Path, tokenizer: Path, max_tokens: int = DEFAULT_MAX_TOKENS) -> TextEncoder:
        return cls(create_session(model), load_tokenizer(tokenizer), max_tokens)

    # -- pre_process ----------------------------------------------------------------------------
    def encode(self, text: str) -> Encoded:
        encoding = self.tokenizer.encode(text, add_special_tokens=False)
        ids, offsets, word_ids = encoding.ids, encoding.offsets, encoding.word_ids
        room = self.max_tokens - 2
        # Group token positions by word (the tokenizer's pre-tokenised words: punctuation apart).
        groups: list[tuple[int, int]] = []  # [start, stop) token positions of each word
        for position, word in enumerate(word_ids):
            if groups and word is not None and word == word_ids[groups[-1][0]]:
                groups[-1] = (groups[-1][0], position + 1)
            else:
                groups.append((position, position + 1))
        chunks: list[list[int]] = [[]]
        words: list[_Word] = []
        for start, stop in groups:
            pieces = [(start, min(stop, start + room))] + [
                (s, min(stop, s + room)) for s in range(start + room, stop, room)
            ]  # a "word" longer than a chunk (noise) is cut; real words never are
            for s, e in pieces:
                if len(chunks[-1]) + (e - s) > room:
                    chunks.append([])
                chunk = chunks[-1]
                words.append(
                    _Word(offsets[s][0], offsets[e - 1][1], len(chunks) - 1, (len(chunk), len(chunk) + e - s))
                )
                chunk.extend(ids[s:e])
        return Encoded(chunks, words, len(ids))

    # -- predict ----------------------------------------------------------------------------------
    def embed_rows(self, rows: Sequence[Sequence[int]]) -> np.ndarray:
        """(len(rows), dim) embeddings of token rows (each without [CLS]/[SEP]), batched."""
        out = []
        for start in range(0, len(rows), _ROWS_PER_RUN):
            batch = rows[start : start + _ROWS_PER_RUN]
            width = max(len(r) for r in batch) + 2
            ids = np.full((len(batch), width), self.pad_id, dtype=np.int64)
            mask = np.zeros((len(batch), width), dtype=np.int64)
            for n, row in enumerate(batch):
                framed = [self.cls_id, *row, self.sep_id]
                ids[n, : len(framed)] = framed
                mask[n, : len(framed)] = 1
            out.append(self.session.run(["embedding"], {"input_ids": ids, "attention_mask": mask})[0])
        return np.concatenate(out).astype(np.float64)

    @staticmethod
    def pool(chunk_embeddings: np.ndarray) -> np.ndarray:
        """Document embedding: the L2-normalised mean of its chunk embeddings."""
        mean = chunk_embeddings.mean(axis=0)
        return mean / max(float(np.linalg.norm(mean)), 1e-12)

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), dim): what the head is trained on and applied to."""
        encoded = [self.encode(t) for t in texts]
        rows = [chunk for e in encoded for chunk in e.chunks]
        embedded = self.embed_rows(rows)
        docs, at = [], 0
        for e in encoded:
            docs.append(self.pool(embedded[at : at + len(e.chunks)]))
            at += len(e.chunks)
        return np.stack(docs)


def _special(tokenizer: Tokenizer, token: str) -> int:
    value = tokenizer.token_to_id(token)
    if value is None:
        raise ValueError(f"the tokenizer has no {token} token")
    return int(value)


class TextClassifier:
    """A loaded text model (encoder, tokenizer, head) and its card."""

    def __init__(self, loaded: LoadedModel, encoder: TextEncoder, head: ort.InferenceSession) -> None:
        self.loaded = loaded
        self.card = loaded.card
        self.encoder = encoder
        self.head = head
        self.labels = list(self.card.outputs.labels)

    @classmethod
    def load(cls, registry: Registry, name: str | None) -> TextClassifier:
        """From the registry (None: the default text model); tokenizer and head are cached with the
        encoder session."""
        loaded = registry.load(name, modality="text")
        card = loaded.card
        preprocessing = card.preprocessing
        key = (card.name, card.version, *(a.sha256 for a in card.artifacts()))
        cached = _CACHE.get(key)
        if cached is None:
            tokenizer_file = preprocessing.get("tokenizer", "tokenizer.json")
            head_file = preprocessing.get("head", "head.onnx")
            if tokenizer_file not in loaded.files or head_file not in loaded.files:
                raise InvalidInput(f"model '{name}' is not a text classifier (no tokenizer or head)")
            head_spec = next(a for a in card.extra_artifacts if a.file == head_file)
            head = registry.sessions.get(
                SessionKey(card.name, card.version, head_spec.sha256), loaded.files[head_file]
            )
            tokenizer = load_tokenizer(loaded.files[tokenizer_file])
            cached = _CACHE[key] = (tokenizer, head)
        tokenizer, head = cached
        max_tokens = int(preprocessing.get("max_tokens", DEFAULT_MAX_TOKENS))
        return cls(loaded, TextEncoder(loaded.session, tokenizer, max_tokens), head)

    @property
    def max_characters(self) -> int:
        return int(getattr(self.card.inputs, "max_characters", None) or MAX_CHARACTERS)

    def check(self, text: str, max_characters: int | None = None) -> None:
        limit = max_characters or self.max_characters
        if len(text) > limit:
            raise PayloadTooLarge(
                f"text is limited to {limit} characters per request; "
                "put longer notes under uploads/text/ in the uploads bucket"
            )
        if not text.strip():
            raise InvalidInput("text is empty", [{"field": "text", "issue": "empty"}])
        check_scope(self.card, text)  # 422 OUT_OF_SCOPE: another language, too few words, ...

    def probabilities(self, embeddings: np.ndarray) -> np.ndarray:
        """(n, labels) probabilities from document embeddings, rows summing to 1."""
        tensor = self.card.outputs.probability_tensor
        out = self.head.run([tensor], {"embedding": embeddings.astype(np.float32)})[0]
        p = np.asarray(out, dtype=np.float64)
        return p / p.sum(axis=1, keepdims=True)

    def ood(self, document: np.ndarray) -> dict[str, Any]:
        """The ``ood`` block: distance of the document embedding to the training notes."""
        scorer = scorer_for(self.loaded)
        if scorer is None:
            return dict(NOT_CALIBRATED)
        return scorer.verdict(float(scorer.scores(document[None, :])[0]))

    # -- predict + post_process --------------------------------------------------------------------
    def predict(
        self, text: str, explain: bool = False, *, max_characters: int | None = None
    ) -> tuple[dict[str, Any], dict[str, Any] | None, dict[str, float]]:
        """The prediction, the explanation (or None) and timings in milliseconds.

        ``max_characters`` overrides the card's limit (the S3 path reads longer notes).
        """
        self.check(text, max_characters)
        started = time.perf_counter()
        encoded = self.encoder.encode(text)
        t_tokens = time.perf_counter()
        chunk_embeddings = self.encoder.embed_rows(encoded.chunks)
        document = self.encoder.pool(chunk_embeddings)
        probs = self.probabilities(document[None, :])[0]
        ood = self.ood(document)
        refuse_if_required(self.card, ood, "the note")
        t_predicted = time.perf_counter()
        top = int(np.argmax(probs))
        prediction = {
            "label": self.labels[top],
            "probability": float(probs[top]),
            "probabilities": {label: float(p) for label, p in zip(self.labels, probs, strict=True)},
            "chunks": len(encoded.chunks),
            "tokens": encoded.n_tokens,
            "ood": ood,
        }
        explanation = self._explain(text, encoded, chunk_embeddings, probs, top) if explain else None
        t_done = time.perf_counter()
        timing = {
            "tokenize": (t_tokens - started) * 1000,
            "inference": (t_predicted - t_tokens) * 1000,
            "explain": (t_done - t_predicted) * 1000,
        }
        return prediction, explanation, timing

    def _explain(
        self, text: str, encoded: Encoded, chunk_embeddings: np.ndarray, probs: np.ndarray, top: int
    ) -> dict[str, Any]:
        spec = self.card.explanation
        budget = max(1, spec.max_evaluations if spec else DEFAULT_BUDGET)
        candidates = [
            w
            for w in encoded.words
            if any(c.isalnum() for c in text[w.begin : w.end])
            and text[w.begin : w.end].lower() not in _STOPWORDS
        ]
        groups = _group(candidates, budget)
        rows = []
        for group in groups:
            chunk = encoded.chunks[group[0].chunk]
            drop = {i for w in group for i in range(*w.tokens)}
            rows.append([t for i, t in enumerate(chunk) if i not in drop])
        base = _log_odds(probs[top])
        contributions: list[dict[str, Any]] = []
        if rows:
            variants = self.encoder.embed_rows(rows)
            total = chunk_embeddings.sum(axis=0)
            documents = np.empty_like(variants)
            for n, group in enumerate(groups):
                mean = (total - chunk_embeddings[group[0].chunk] + variants[n]) / len(chunk_embeddings)
                documents[n] = mean / max(float(np.linalg.norm(mean)), 1e-12)
            without = self.probabilities(documents)[:, top]
            for group, p in zip(groups, without, strict=True):
                begin, end = group[0].begin, group[-1].end
                weight = base - _log_odds(float(p))
                contributions.append(
                    {
                        "text": text[begin:end],
                        "begin": begin,
                        "end": end,
                        "weight": float(weight),
                        "direction": "supports" if weight > 0 else "opposes",
                    }
                )
        contributions.sort(key=lambda c: -abs(c["weight"]))
        supporting = [c["text"] for c in contributions if c["weight"] > 0][:5]
        return {
            "method": "leave-one-word-out",
            "label": self.labels[top],
            "space": "log-odds",
            "output": {"log_odds": base, "probability": float(probs[top])},
            "attributions": contributions,
            "unit": "word" if all(len(g) == 1 for g in groups) else "word-group",
            "words": len(candidates),
            "evaluations": len(groups),
            "max_evaluations": budget,
            "summary": (
                f"'{self.labels[top]}' is supported most by: " + ", ".join(supporting) + "."
                if supporting
                else f"No single word moves the '{self.labels[top]}' prediction up."
            ),
        }


def _group(words: list[_Word], budget: int) -> list[list[_Word]]:
    """Neighbouring words of one chunk grouped so that there are at most ``budget`` groups."""
    if not words:
        return []
    size = max(1, math.ceil(len(words) / budget))
    while True:
        groups: list[list[_Word]] = []
        for word in words:
            if groups and len(groups[-1]) < size and groups[-1][-1].chunk == word.chunk:
                groups[-1].append(word)
            else:
                groups.append([word])
        if len(groups) <= budget:
            return groups
        size += 1


def _log_odds(p: float) -> float:
    p = min(max(p, 1e-12), 1 - 1e-12)
    return math.log(p) - math.log1p(-p)


# Tokenizer and head per model artifact, for the container's life (like the encoder session).
_CACHE: dict[tuple[str, ...], tuple[Any, Any]] = {}
