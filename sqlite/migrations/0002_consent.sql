-- garde schema, version 2: consent notices and events, and each tenant's
-- append-only Merkle log (package ledger). Keyed by tenant id first.

CREATE TABLE notices (
	tenant_id  TEXT NOT NULL,
	purpose    TEXT NOT NULL,
	language   TEXT NOT NULL,
	version    INTEGER NOT NULL,
	text       TEXT NOT NULL,
	hash       TEXT NOT NULL,
	created_at INTEGER NOT NULL,
	created_by TEXT NOT NULL,
	PRIMARY KEY (tenant_id, purpose, language, version)
) STRICT;

-- Consent events. Their content (and the salt of their ledger leaf) is
-- sealed under the subject's key: destroying it leaves these rows opaque.
CREATE TABLE consents (
	tenant_id       TEXT NOT NULL,
	id              TEXT NOT NULL,
	subject_id      TEXT NOT NULL,
	purpose         TEXT NOT NULL,
	action          TEXT NOT NULL,
	at              INTEGER NOT NULL,
	leaf_index      INTEGER NOT NULL,
	sealed          BLOB NOT NULL,
	sealed_evidence BLOB,
	PRIMARY KEY (tenant_id, id)
) STRICT;

CREATE INDEX consents_by_subject ON consents (tenant_id, subject_id, purpose, leaf_index);

-- The head of each tenant's log: every append updates it from the size it
-- read, in the same transaction, so two writers can never both append the
-- same leaf.
CREATE TABLE ledger_heads (
	tenant_id  TEXT PRIMARY KEY,
	size       INTEGER NOT NULL,
	updated_at INTEGER NOT NULL
) STRICT;

CREATE TABLE ledger_leaves (
	tenant_id  TEXT NOT NULL,
	idx        INTEGER NOT NULL,
	kind       TEXT NOT NULL,
	record     BLOB NOT NULL,
	salt       BLOB,
	content    BLOB,
	created_at INTEGER NOT NULL,
	PRIMARY KEY (tenant_id, idx)
) STRICT, WITHOUT ROWID;

-- RFC 6962 stored hashes, at tlog.StoredHashIndex positions.
CREATE TABLE ledger_hashes (
	tenant_id TEXT NOT NULL,
	idx       INTEGER NOT NULL,
	hash      BLOB NOT NULL,
	PRIMARY KEY (tenant_id, idx)
) STRICT, WITHOUT ROWID;

CREATE TABLE ledger_checkpoints (
	tenant_id  TEXT NOT NULL,
	size       INTEGER NOT NULL,
	note       BLOB NOT NULL,
	created_at INTEGER NOT NULL,
	PRIMARY KEY (tenant_id, size)
) STRICT;

-- The checkpoint signing key: the signer sealed under a tenant data key,
-- the verifier (public) in the clear.
CREATE TABLE ledger_keys (
	tenant_id     TEXT PRIMARY KEY,
	verifier      TEXT NOT NULL,
	sealed_signer BLOB NOT NULL,
	key_version   INTEGER NOT NULL,
	created_at    INTEGER NOT NULL
) STRICT;
