-- garde schema, version 1. Every table is keyed by tenant id first, so that
-- no query needs to cross tenants and the same layout shards by tenant.

CREATE TABLE tenants (
	id         TEXT PRIMARY KEY,
	name       TEXT NOT NULL,
	created_at INTEGER NOT NULL
) STRICT;

CREATE TABLE tenant_keys (
	tenant_id      TEXT NOT NULL,
	kind           TEXT NOT NULL,
	version        INTEGER NOT NULL,
	wrapped        BLOB NOT NULL,
	master_version INTEGER NOT NULL,
	created_at     INTEGER NOT NULL,
	PRIMARY KEY (tenant_id, kind, version)
) STRICT;

CREATE TABLE api_keys (
	tenant_id  TEXT NOT NULL,
	id         TEXT NOT NULL,
	prefix     TEXT NOT NULL UNIQUE,
	hash       BLOB NOT NULL,
	role       TEXT NOT NULL,
	created_at INTEGER NOT NULL,
	created_by TEXT NOT NULL,
	revoked_at INTEGER,
	PRIMARY KEY (tenant_id, id)
) STRICT;

CREATE TABLE registers (
	tenant_id  TEXT NOT NULL,
	version    INTEGER NOT NULL,
	applied_at INTEGER NOT NULL,
	applied_by TEXT NOT NULL,
	document   BLOB NOT NULL,
	source     BLOB NOT NULL,
	PRIMARY KEY (tenant_id, version)
) STRICT;

CREATE TABLE subjects (
	tenant_id   TEXT NOT NULL,
	id          TEXT NOT NULL,
	blind_index BLOB NOT NULL,
	sealed_ref  BLOB,
	wrapped_key BLOB,
	key_version INTEGER NOT NULL,
	created_at  INTEGER NOT NULL,
	PRIMARY KEY (tenant_id, id),
	UNIQUE (tenant_id, blind_index)
) STRICT;

CREATE TABLE messages (
	tenant_id     TEXT NOT NULL,
	id            TEXT NOT NULL,
	subject_id    TEXT NOT NULL,
	purpose       TEXT NOT NULL,
	channel       TEXT NOT NULL,
	created_at    INTEGER NOT NULL,
	expires_at    INTEGER NOT NULL,
	sealed_text   BLOB NOT NULL,
	sealed_fields BLOB,
	PRIMARY KEY (tenant_id, id)
) STRICT;

CREATE INDEX messages_by_subject ON messages (tenant_id, subject_id, purpose, id);
CREATE INDEX messages_by_expiry ON messages (tenant_id, expires_at);

CREATE TABLE audit (
	seq         INTEGER PRIMARY KEY,
	tenant_id   TEXT NOT NULL,
	at          INTEGER NOT NULL,
	actor       TEXT NOT NULL,
	action      TEXT NOT NULL,
	purpose     TEXT NOT NULL,
	subject_ref TEXT NOT NULL,
	outcome     TEXT NOT NULL,
	count       INTEGER NOT NULL,
	reason      TEXT NOT NULL
) STRICT;

CREATE INDEX audit_by_tenant ON audit (tenant_id, seq);
CREATE INDEX audit_by_tenant_time ON audit (tenant_id, at);
