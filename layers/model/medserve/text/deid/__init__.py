"""PHI de-identification of clinical text: entity types and results, the detector and the
redaction modes (tag, mask, surrogate)."""
