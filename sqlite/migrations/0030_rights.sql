-- Data-subject rights (GDPR Art. 12–22): requests on the Art. 12(3) clock,
-- subject blocks (erasure tombstones, restrictions, objections), signed
-- deliveries (erasure notices, OpenDSR callbacks), alarm claims and leases.
-- Keyed by tenant id first, except the two look-ups that start from no
-- tenant (a verification token, a lease).

CREATE TABLE requests (
	tenant_id        TEXT NOT NULL,
	id               TEXT NOT NULL,
	type             TEXT NOT NULL,
	status           TEXT NOT NULL,
	subject_index    BLOB NOT NULL,           -- keyed blind index, never the identifier
	subject_ref      TEXT NOT NULL,           -- the audit trail's keyed reference
	sealed_subject   BLOB,                    -- identifier sealed under a tenant key; NULL once erased
	key_version      INTEGER NOT NULL,
	purpose          TEXT NOT NULL,
	source           TEXT NOT NULL,
	external_id      TEXT,                    -- OpenDSR subject_request_id
	callback_urls    TEXT NOT NULL,           -- JSON array
	filed_by         TEXT NOT NULL,
	received_at      INTEGER NOT NULL,
	due_at           INTEGER NOT NULL,
	verified_at      INTEGER,
	started_at       INTEGER,
	completed_at     INTEGER,
	extended_at      INTEGER,
	extension        TEXT NOT NULL,
	reason           TEXT NOT NULL,
	legal_hold       TEXT NOT NULL,
	token_hash       BLOB,                    -- SHA-256 of the one-time verification token
	token_expires    INTEGER,
	key_destroyed_at INTEGER,
	certificate      BLOB,
	outcome          TEXT NOT NULL,
	updated_at       INTEGER NOT NULL,
	PRIMARY KEY (tenant_id, id)
) STRICT;

CREATE UNIQUE INDEX requests_by_external ON requests (tenant_id, external_id) WHERE external_id IS NOT NULL;
CREATE UNIQUE INDEX requests_by_token ON requests (token_hash) WHERE token_hash IS NOT NULL;
CREATE INDEX requests_by_subject ON requests (tenant_id, subject_index);
CREATE INDEX requests_open_by_due ON requests (tenant_id, due_at) WHERE status NOT IN ('completed', 'rejected', 'cancelled');

-- What stops processing for a subject, by blind index: the tombstone of an
-- erasure (kept: a late write is refused), a restriction, an objection.
CREATE TABLE subject_blocks (
	tenant_id   TEXT NOT NULL,
	blind_index BLOB NOT NULL,
	kind        TEXT NOT NULL,
	purpose     TEXT NOT NULL,
	since       INTEGER NOT NULL,
	request_id  TEXT NOT NULL,
	PRIMARY KEY (tenant_id, blind_index, kind, purpose)
) STRICT;

CREATE TABLE deliveries (
	tenant_id    TEXT NOT NULL,
	request_id   TEXT NOT NULL,
	seq          INTEGER NOT NULL,
	kind         TEXT NOT NULL,
	recipient    TEXT NOT NULL,
	endpoint     TEXT NOT NULL,
	sealed_body  BLOB,                        -- NULL once delivered or dead
	key_version  INTEGER NOT NULL,
	status       TEXT NOT NULL,
	attempts     INTEGER NOT NULL,
	next_at      INTEGER NOT NULL,
	last_error   TEXT NOT NULL,
	delivered_at INTEGER,
	PRIMARY KEY (tenant_id, request_id, seq)
) STRICT;

CREATE INDEX deliveries_due ON deliveries (tenant_id, next_at) WHERE status = 'pending';

-- Deadline alarms claimed and sent: the primary key makes them once.
CREATE TABLE request_alarms (
	tenant_id   TEXT NOT NULL,
	request_id  TEXT NOT NULL,
	kind        TEXT NOT NULL,
	node        TEXT NOT NULL,
	claimed_at  INTEGER NOT NULL,
	lease_until INTEGER NOT NULL,
	attempts    INTEGER NOT NULL,
	sent_at     INTEGER,
	PRIMARY KEY (tenant_id, request_id, kind)
) STRICT;

-- Leases of the deployment's background jobs (one node at a time).
CREATE TABLE leases (
	name  TEXT PRIMARY KEY,
	node  TEXT NOT NULL,
	until INTEGER NOT NULL
) STRICT;

-- A subject's messages across purposes, in id order (exports, erasure).
CREATE INDEX messages_by_subject_id ON messages (tenant_id, subject_id, id);
