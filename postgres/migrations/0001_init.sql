-- garde schema, version 1, for PostgreSQL.
--
-- Every table is keyed by tenant id first: every primary key and every
-- unique constraint starts with tenant_id, and every query names one
-- tenant. The large tables (subjects, messages, audit) are hash-partitioned
-- by tenant_id, so that one tenant's rows live in one partition, and the
-- same layout distributes by tenant_id on a sharded PostgreSQL (Citus)
-- without change. Times are timestamptz (microseconds, like SQLite's).

CREATE TABLE tenants (
	id         text PRIMARY KEY,
	name       text NOT NULL,
	created_at timestamptz NOT NULL
);

CREATE TABLE tenant_keys (
	tenant_id      text NOT NULL,
	kind           text NOT NULL,
	version        bigint NOT NULL,
	wrapped        bytea NOT NULL,
	master_version bigint NOT NULL,
	created_at     timestamptz NOT NULL,
	PRIMARY KEY (tenant_id, kind, version)
);

-- api_keys is the one table read without a tenant: a credential names its
-- tenant through its public prefix. It stays small (a few keys per tenant)
-- and unpartitioned; on Citus it is a reference table.
CREATE TABLE api_keys (
	tenant_id  text NOT NULL,
	id         text NOT NULL,
	prefix     text NOT NULL UNIQUE,
	hash       bytea NOT NULL,
	role       text NOT NULL,
	created_at timestamptz NOT NULL,
	created_by text NOT NULL,
	revoked_at timestamptz,
	PRIMARY KEY (tenant_id, id)
);

CREATE TABLE registers (
	tenant_id  text NOT NULL,
	version    bigint NOT NULL,
	applied_at timestamptz NOT NULL,
	applied_by text NOT NULL,
	document   bytea NOT NULL,
	source     bytea NOT NULL,
	PRIMARY KEY (tenant_id, version)
);

CREATE TABLE subjects (
	tenant_id   text NOT NULL,
	id          text NOT NULL,
	blind_index bytea NOT NULL,
	sealed_ref  bytea,
	wrapped_key bytea,
	key_version bigint NOT NULL,
	created_at  timestamptz NOT NULL,
	PRIMARY KEY (tenant_id, id),
	UNIQUE (tenant_id, blind_index)
) PARTITION BY HASH (tenant_id);

CREATE TABLE messages (
	tenant_id     text NOT NULL,
	id            text NOT NULL,
	subject_id    text NOT NULL,
	purpose       text NOT NULL,
	channel       text NOT NULL,
	created_at    timestamptz NOT NULL,
	expires_at    timestamptz NOT NULL,
	sealed_text   bytea NOT NULL,
	sealed_fields bytea,
	PRIMARY KEY (tenant_id, id)
) PARTITION BY HASH (tenant_id);

CREATE INDEX messages_by_subject ON messages (tenant_id, subject_id, purpose, id);
CREATE INDEX messages_by_expiry ON messages (tenant_id, expires_at);

-- seq comes from one sequence. Appends of one tenant are serialised by a
-- lock on the tenant's ledger head row (migration 2) taken before nextval,
-- so that within a tenant seq order is commit order and paging by seq
-- never skips a row committed late.
CREATE SEQUENCE audit_seq AS bigint;

CREATE TABLE audit (
	tenant_id   text NOT NULL,
	seq         bigint NOT NULL DEFAULT nextval('audit_seq'),
	at          timestamptz NOT NULL,
	actor       text NOT NULL,
	action      text NOT NULL,
	purpose     text NOT NULL,
	subject_ref text NOT NULL,
	outcome     text NOT NULL,
	count       bigint NOT NULL,
	reason      text NOT NULL,
	PRIMARY KEY (tenant_id, seq)
) PARTITION BY HASH (tenant_id);

ALTER SEQUENCE audit_seq OWNED BY audit.seq;

CREATE INDEX audit_by_tenant_time ON audit (tenant_id, at);

-- 16 hash partitions per large table. Re-partitioning later (to 64, say)
-- is a data migration; 16 keeps each partition's indexes small up to tens
-- of millions of rows per table.
DO $$
DECLARE
	t text;
	i int;
BEGIN
	FOREACH t IN ARRAY ARRAY['subjects', 'messages', 'audit'] LOOP
		FOR i IN 0..15 LOOP
			EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES WITH (MODULUS 16, REMAINDER %s)',
				t || '_p' || lpad(i::text, 2, '0'), t, i);
		END LOOP;
	END LOOP;
END
$$;
