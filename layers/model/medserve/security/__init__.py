"""Who may call what, and the record of who did: scope checks of the API Gateway JWT claims
(``auth``), the encrypted audit trail (``audit``) and the audit of gateway refusals
(``gateway_audit``)."""
