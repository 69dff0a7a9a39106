"""De-identification of clinical text: the HIPAA Safe Harbor identifiers of a note, found and removed.

Contract:

* :func:`detect` returns the identifiers of ``text`` as :class:`Entity` objects, sorted and never
  overlapping: ``type`` (one of :data:`TYPES`), ``begin``/``end`` (character offsets into the
  input, Python ``str`` indexing: ``text[begin:end]`` is the identifier) and ``score`` (the rule's
  confidence in [0, 1]: a ranking aid, not a calibrated probability).
* :func:`redact` replaces them: ``tag`` writes ``[TYPE]``; ``mask`` writes one ``*`` per character
  (line breaks kept), so every offset of the input is still valid in the output; ``surrogate``
  writes realistic fake values, consistent within the document (the same name always becomes the
  same fake name, token by token, so "John Smith" and "Mr. Smith" stay one person), and shifts
  every date by one random per-document number of days, so intervals between dates are kept.
* :func:`deidentify` does both.

Method: rules and word lists, tuned for recall (a missed identifier is a privacy breach, a false
alarm only hides a word). Structured identifiers (e-mail, URL, IP, SSN, phone, fax, labelled
numbers, dates, ages over 89, street addresses, ZIP codes) are found by patterns; names by titles,
credentials, labels, relations and name lists; cities by "City, ST" and place cues; facilities by
their institution words. A name or number found once is then found everywhere in the note.
``medserve eval deid`` measures recall and precision per type on the annotated corpus in
``tests/data/deid_corpus.txt``.

No function here logs anything: the text, the entities and the fakes are patient data.
"""

from medserve.text.deid.redact import deidentify, redact, shift_date
from medserve.text.deid.resolve import detect
from medserve.text.deid.types import MAX_CHARACTERS, MODES, TYPES, VERSION, Deidentified, Entity, Mode

__all__ = [
    "MAX_CHARACTERS",
    "MODES",
    "TYPES",
    "VERSION",
    "Deidentified",
    "Entity",
    "Mode",
    "deidentify",
    "detect",
    "redact",
    "shift_date",
]
