-- Data-subject rights (GDPR Art. 12–22; SQLite's 0030_rights.sql):
-- requests on the Art. 12(3) clock, subject blocks (erasure tombstones,
-- restrictions, objections), signed deliveries (erasure notices, OpenDSR
-- callbacks), alarm claims and leases. Keyed by tenant id first, except the
-- two look-ups that start from no tenant (a verification token, a lease).

CREATE TABLE requests (
	tenant_id        text NOT NULL,
	id               text NOT NULL,
	type             text NOT NULL,
	status           text NOT NULL,
	subject_index    bytea NOT NULL,          -- keyed blind index, never the identifier
	subject_ref      text NOT NULL,           -- the audit trail's keyed reference
	sealed_subject   bytea,                   -- identifier sealed under a tenant key; NULL once erased
	key_version      bigint NOT NULL,
	purpose          text NOT NULL,
	source           text NOT NULL,
	external_id      text,                    -- OpenDSR subject_request_id
	callback_urls    text[] NOT NULL,
	filed_by         text NOT NULL,
	received_at      timestamptz NOT NULL,
	due_at           timestamptz NOT NULL,
	verified_at      timestamptz,
	started_at       timestamptz,
	completed_at     timestamptz,
	extended_at      timestamptz,
	extension        text NOT NULL,
	reason           text NOT NULL,
	legal_hold       text NOT NULL,
	token_hash       bytea,                   -- SHA-256 of the one-time verification token
	token_expires    timestamptz,
	key_destroyed_at timestamptz,
	certificate      bytea,
	outcome          text NOT NULL,
	updated_at       timestamptz NOT NULL,
	PRIMARY KEY (tenant_id, id)
);

CREATE UNIQUE INDEX requests_by_external ON requests (tenant_id, external_id) WHERE external_id IS NOT NULL;
CREATE UNIQUE INDEX requests_by_token ON requests (token_hash) WHERE token_hash IS NOT NULL;
CREATE INDEX requests_by_subject ON requests (tenant_id, subject_index);
CREATE INDEX requests_open_by_due ON requests (tenant_id, due_at) WHERE status NOT IN ('completed', 'rejected', 'cancelled');

-- What stops processing for a subject, by blind index: the tombstone of an
-- erasure (kept: a late write is refused), a restriction, an objection.
CREATE TABLE subject_blocks (
	tenant_id   text NOT NULL,
	blind_index bytea NOT NULL,
	kind        text NOT NULL,
	purpose     text NOT NULL,
	since       timestamptz NOT NULL,
	request_id  text NOT NULL,
	PRIMARY KEY (tenant_id, blind_index, kind, purpose)
);

CREATE TABLE deliveries (
	tenant_id    text NOT NULL,
	request_id   text NOT NULL,
	seq          bigint NOT NULL,
	kind         text NOT NULL,
	recipient    text NOT NULL,
	endpoint     text NOT NULL,
	sealed_body  bytea,                       -- NULL once delivered or dead
	key_version  bigint NOT NULL,
	status       text NOT NULL,
	attempts     bigint NOT NULL,
	next_at      timestamptz NOT NULL,
	last_error   text NOT NULL,
	delivered_at timestamptz,
	PRIMARY KEY (tenant_id, request_id, seq)
);

CREATE INDEX deliveries_due ON deliveries (tenant_id, next_at) WHERE status = 'pending';

-- Deadline alarms claimed and sent: the primary key makes them once.
CREATE TABLE request_alarms (
	tenant_id   text NOT NULL,
	request_id  text NOT NULL,
	kind        text NOT NULL,
	node        text NOT NULL,
	claimed_at  timestamptz NOT NULL,
	lease_until timestamptz NOT NULL,
	attempts    bigint NOT NULL,
	sent_at     timestamptz,
	PRIMARY KEY (tenant_id, request_id, kind)
);

-- Leases of the deployment's background jobs (one node at a time).
CREATE TABLE leases (
	name  text PRIMARY KEY,
	node  text NOT NULL,
	until timestamptz NOT NULL
);

-- A subject's messages across purposes, in id order (exports, erasure).
CREATE INDEX messages_by_subject_id ON messages (tenant_id, subject_id, id);
