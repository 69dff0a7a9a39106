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
3. with ``explain``: hierarchical occlusion (``explain_note``): each sentence read alone against
   the empty note, then, only in the sentences where the score moves, each content word removed
   from its sentence; a deletion check removes the supporting sentences from the whole note. At
   most ``explanation.max_evaluations`` encoder rows and ``token_budget_ratio`` x the note's
   tokens: a few passes over the note, not one per word (2.4 s -> a few hundred ms at 1,000
   characters).

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
    def embed_rows(self, rows: Sequence[Sequence[int]], rows_per_run: int = _ROWS_PER_RUN) -> np.ndarray:
        """(len(rows), dim) embeddings of token rows (each without [CLS]/[SEP]), ``rows_per_run``
        rows per ``session.run``."""
        out = []
        for start in range(0, len(rows), rows_per_run):
            batch = rows[start : start + rows_per_run]
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
        """Hierarchical occlusion within a token budget (see ``explain_note``)."""
        spec = self.card.explanation
        max_rows = max(2, spec.max_evaluations if spec else DEFAULT_BUDGET)
        ratio = float(getattr(spec, "token_budget_ratio", None) or DEFAULT_TOKEN_BUDGET_RATIO)
        return explain_note(self, text, encoded, chunk_embeddings, probs, top, max_rows, ratio)


DEFAULT_TOKEN_BUDGET_RATIO = 4.0
_SEGMENT_TOKENS = 40  # a sentence longer than this is read as pieces of about this many word pieces
_REFINE_SHARE = 0.25  # refine sentences whose |weight| is at least this share of the largest


@dataclass(frozen=True)
class _Segment:
    """A sentence (or a piece of a long one) of one chunk: words[first:last] of the note."""

    chunk: int
    first: int  # indices into Encoded.words
    last: int
    tokens: tuple[int, int]  # [start, stop) token positions inside the chunk


def _segments(text: str, encoded: Encoded, max_segments: int) -> list[_Segment]:
    """Sentences of the note, never across chunks: cut after ``.!?;`` and at line breaks; pieces
    of at most ``_SEGMENT_TOKENS`` word pieces; neighbours merged to at most ``max_segments``."""
    words = encoded.words
    bounds: list[tuple[int, int]] = []  # [first, last) word indices
    first = 0
    for n, word in enumerate(words):
        last_of_chunk = n + 1 == len(words) or words[n + 1].chunk != word.chunk
        gap = text[word.end : words[n + 1].begin] if n + 1 < len(words) else " "
        # "0.41", "V4-V6" and "e.g" go on: a full stop ends a sentence before a space only.
        ends = "\n" in gap or (text[word.begin : word.end] in {".", "!", "?", ";"} and gap[:1].isspace())
        too_long = word.tokens[1] - words[first].tokens[0] >= _SEGMENT_TOKENS
        if ends or last_of_chunk or too_long:
            bounds.append((first, n + 1))
            first = n + 1
    while len(bounds) > max_segments:  # long notes: merge neighbours of one chunk, pairwise
        merged: list[tuple[int, int]] = []
        i = 0
        while i < len(bounds):
            if i + 1 < len(bounds) and words[bounds[i][0]].chunk == words[bounds[i + 1][0]].chunk:
                merged.append((bounds[i][0], bounds[i + 1][1]))
                i += 2
            else:
                merged.append(bounds[i])
                i += 1
        if len(merged) == len(bounds):
            break
        bounds = merged
    return [
        _Segment(words[f].chunk, f, last, (words[f].tokens[0], words[last - 1].tokens[1]))
        for f, last in bounds
    ]


def explain_note(
    model: TextClassifier,
    text: str,
    encoded: Encoded,
    chunk_embeddings: np.ndarray,
    probs: np.ndarray,
    top: int,
    max_rows: int,
    token_budget_ratio: float,
) -> dict[str, Any]:
    """Which sentences, and which words in them, carry the predicted label: hierarchical occlusion.
    (``words`` in the response counts word and phrase attributions.)

    1. Sentences: each sentence read alone, against the empty note: ``weight = L(sentence) - L(∅)``
       (L: the label's log-odds). All sentences cost one pass over the note's tokens, batched.
    2. Words, adaptively: only in the sentences where the score moves (|weight| at least a quarter
       of the largest, largest first) and while the budget lasts, each content word (or phrase of
       neighbouring content words, when the budget is short) is removed from its sentence:
       ``weight = L(sentence) - L(sentence without it)``.
    3. Deletion check on the whole note (faithfulness): the note without its supporting sentences,
       re-encoding only the chunks they are in (the other chunks' embeddings of the prediction are
       reused). ``drop`` > 0: removing what the explanation credits lowers the prediction.

    Every weight is an exact difference of two model outputs (no surrogate, no sampling). The
    budget: at most ``max_rows`` encoder rows and ``token_budget_ratio`` x the note's tokens
    (stated in the card; what was used is in the response). The un-occluded encoding of the
    prediction is reused for every chunk the deletion check leaves untouched.
    """
    encoder = model.encoder
    budget_tokens = int(token_budget_ratio * (encoded.n_tokens + 2 * len(encoded.chunks)))
    segments = _segments(text, encoded, max(1, max_rows // 2 - 1))

    def row_of(seg: _Segment, drop: tuple[int, int] | None = None) -> list[int]:
        tokens = encoded.chunks[seg.chunk][seg.tokens[0] : seg.tokens[1]]
        if drop is None:
            return tokens
        return tokens[: drop[0] - seg.tokens[0]] + tokens[drop[1] - seg.tokens[0] :]

    def embed(rows: list[list[int]]) -> np.ndarray:
        # One row per run: the int8 encoder quantises activations with a scale computed per run, so
        # in a batch a row's embedding depends on its batch-mates (by up to ~0.2 log-odds here);
        # alone, each weight is the model's output for exactly that input, and no row is padded to
        # the longest (measured no slower than batches of 16 on 1-2 cores: the cost is per token).
        return encoder.embed_rows(rows, rows_per_run=1)

    def log_odds(embeddings: np.ndarray) -> np.ndarray:
        norms = np.maximum(np.linalg.norm(embeddings, axis=1, keepdims=True), 1e-12)
        p = np.clip(model.probabilities(embeddings / norms)[:, top], 1e-12, 1 - 1e-12)
        return np.log(p) - np.log1p(-p)

    # Level 1: every sentence alone, and the empty note ([CLS][SEP]).
    rows = [row_of(seg) for seg in segments] + [[]]
    used_tokens = sum(len(r) + 2 for r in rows)
    level1 = log_odds(embed(rows))
    empty = float(level1[-1])
    sentence_weights = level1[:-1] - empty

    # The deletion check's rows (the whole note without its supporting sentences), known now: they
    # share level 2's batched run.
    base = _log_odds(float(probs[top]))
    supporting = [s for s in range(len(segments)) if sentence_weights[s] > 0]
    removed: dict[int, set[int]] = {}
    for s in supporting:
        removed.setdefault(segments[s].chunk, set()).update(range(*segments[s].tokens))
    kept_rows = {
        c: [t for i, t in enumerate(encoded.chunks[c]) if i not in drop] for c, drop in removed.items()
    }
    changed = [c for c, r in kept_rows.items() if r]
    check_rows = [kept_rows[c] for c in changed]
    used_tokens += sum(len(r) + 2 for r in check_rows)

    # Level 2: words (or phrases, where the budget is short) of the sentences where the score
    # moves, largest first, while rows and tokens last.
    largest = float(np.max(np.abs(sentence_weights))) if len(segments) else 0.0
    group_rows: list[list[int]] = []
    group_refs: list[tuple[int, list[_Word]]] = []  # (segment index, its words removed together)
    for s in sorted(range(len(segments)), key=lambda i: -abs(sentence_weights[i])):
        if largest == 0.0 or abs(sentence_weights[s]) < _REFINE_SHARE * largest:
            break
        seg = segments[s]
        content = [w for w in encoded.words[seg.first : seg.last] if _is_content(text[w.begin : w.end])]
        row_cost = len(row_of(seg)) + 2  # at most, per row
        rows_left = max_rows - len(rows) - len(group_rows) - len(check_rows)
        groups = min(len(content), rows_left, (budget_tokens - used_tokens) // row_cost)
        if groups < 2:
            continue  # one group would be the sentence itself: its weight is already there
        size = math.ceil(len(content) / groups)
        for g in range(0, len(content), size):
            words = content[g : g + size]
            drop = {i for w in words for i in range(*w.tokens)}
            tokens = encoded.chunks[seg.chunk][seg.tokens[0] : seg.tokens[1]]
            group_rows.append([t for i, t in enumerate(tokens, seg.tokens[0]) if i not in drop])
            group_refs.append((s, words))
            used_tokens += len(group_rows[-1]) + 2

    embedded = embed(group_rows + check_rows) if group_rows or check_rows else None
    group_weights = np.empty(0)
    if group_rows and embedded is not None:
        # L(sentence) is level 1's; L(sentence without the group) is the new row's.
        alone = np.array([level1[s] for s, _ in group_refs])
        group_weights = alone - log_odds(embedded[: len(group_rows)])
    check: dict[str, Any] = {"removed_sentences": len(supporting)}
    if supporting:
        fresh = list(embedded[len(group_rows) :]) if embedded is not None else []
        parts = [chunk_embeddings[c] for c in range(len(encoded.chunks)) if c not in removed] + fresh
        document = encoder.pool(np.stack(parts)) if parts else embed([[]])[0]
        after = float(log_odds(document[None, :])[0])
        check.update({"log_odds": after, "drop": base - after})

    contributions: list[dict[str, Any]] = []
    for s, seg in enumerate(segments):
        begin, end = encoded.words[seg.first].begin, encoded.words[seg.last - 1].end
        contributions.append(_attribution(text, begin, end, float(sentence_weights[s]), "sentence"))
    words_out = [
        _attribution(text, ws[0].begin, ws[-1].end, float(weight), "word" if len(ws) == 1 else "phrase")
        for (_, ws), weight in zip(group_refs, group_weights, strict=True)
    ]
    contributions.sort(key=lambda c: -abs(c["weight"]))
    words_out.sort(key=lambda c: -abs(c["weight"]))
    supports = [c["text"] for c in (words_out or contributions) if c["weight"] > 0][:5]
    label = model.labels[top]
    return {
        "method": "hierarchical-occlusion",
        "label": label,
        "space": "log-odds",
        "output": {"log_odds": base, "probability": float(probs[top])},
        "empty_note": {"log_odds": empty},
        "attributions": contributions + words_out,
        "unit": "sentence+word" if words_out else "sentence",
        "sentences": len(segments),
        "words": len(words_out),
        "evaluations": len(rows) + len(group_rows) + len(check_rows),
        "max_evaluations": max_rows,
        "budget": {
            "evaluated_tokens": used_tokens,
            "max_evaluated_tokens": budget_tokens,
            "token_budget_ratio": token_budget_ratio,
        },
        "deletion_check": check,
        "summary": (
            f"'{label}' is supported most by: " + ", ".join(supports) + "."
            if supports
            else f"No sentence moves the '{label}' prediction up."
        ),
    }


def _is_content(word: str) -> bool:
    """Worth an encoder row: has a letter or digit and is not a stopword."""
    return any(c.isalnum() for c in word) and word.lower() not in _STOPWORDS


def _attribution(text: str, begin: int, end: int, weight: float, level: str) -> dict[str, Any]:
    return {
        "text": text[begin:end],
        "begin": begin,
        "end": end,
        "level": level,
        "weight": weight,
        "direction": "supports" if weight > 0 else "opposes",
    }


def _log_odds(p: float) -> float:
    p = min(max(p, 1e-12), 1 - 1e-12)
    return math.log(p) - math.log1p(-p)


# Tokenizer and head per model artifact, for the container's life (like the encoder session).
_CACHE: dict[tuple[str, ...], tuple[Any, Any]] = {}
