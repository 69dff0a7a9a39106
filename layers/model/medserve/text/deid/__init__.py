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

Method: three signals, each measured on its own by ``medserve eval deid --signal``, whose union
goes through one overlap resolution (every candidate's characters stay covered; the rules' spans
and types win where they fire) and one propagation (a name or number found once is found
everywhere in the note):

* the rules (:mod:`.recognisers`, :mod:`.names`): patterns for formats (e-mail, URL, IP, SSN,
  phone, fax, labelled numbers, dates, ages over 89, addresses, ZIP codes, cities, facilities)
  and names by titles, credentials, labels, relations and name lists;
* a learned token classifier (:mod:`.model`, features in :mod:`.features`): a linear model over
  hashed token features, trained on generated notes by ``training/deid_tokens.py`` and bundled
  with its card under ``model/`` (demonstration only);
* the safe-list pass (:mod:`.safelist`): in a name position, a word that is not a known English
  or clinical word is a name (recall bought with precision).

Modules: :mod:`.types` (Entity, Deidentified, TYPES), :mod:`.tokens`, :mod:`.recognisers`,
:mod:`.names`, :mod:`.features`, :mod:`.model`, :mod:`.safelist`, :mod:`.resolve` (resolution,
propagation, :func:`detect`), :mod:`.redact` (modes, surrogates, date shifts), :mod:`.lexicon`.

No function here logs anything: the text, the entities and the fakes are patient data.
"""

from medserve.text.deid.redact import deidentify, redact, shift_date
from medserve.text.deid.resolve import SIGNALS, detect
from medserve.text.deid.types import MAX_CHARACTERS, METHOD, MODES, TYPES, VERSION, Deidentified, Entity, Mode

__all__ = [
    "MAX_CHARACTERS",
    "METHOD",
    "MODES",
    "SIGNALS",
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
