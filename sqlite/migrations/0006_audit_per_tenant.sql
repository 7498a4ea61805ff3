-- Audit sequence numbers become per tenant: a global sequence would let one
-- tenant count the events of all others from the gaps in its own.
CREATE TABLE audit_v2 (
	tenant_id   TEXT NOT NULL,
	seq         INTEGER NOT NULL,
	at          INTEGER NOT NULL,
	actor       TEXT NOT NULL,
	action      TEXT NOT NULL,
	purpose     TEXT NOT NULL,
	subject_ref TEXT NOT NULL,
	outcome     TEXT NOT NULL,
	count       INTEGER NOT NULL,
	reason      TEXT NOT NULL,
	PRIMARY KEY (tenant_id, seq)
) STRICT, WITHOUT ROWID;

INSERT INTO audit_v2 (tenant_id, seq, at, actor, action, purpose, subject_ref, outcome, count, reason)
SELECT tenant_id, row_number() OVER (PARTITION BY tenant_id ORDER BY seq), at, actor, action, purpose, subject_ref, outcome, count, reason
FROM audit;

DROP TABLE audit;
ALTER TABLE audit_v2 RENAME TO audit;
CREATE INDEX audit_by_tenant_time ON audit (tenant_id, at);
