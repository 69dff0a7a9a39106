"""Clinical text: the note classifier (``classifier``), the one prediction and de-identification
used by the routes and the S3 scorer (``predict``), note uploads (``batch``) and PHI
de-identification (``deid``)."""
