-- garde schema, version 2: consent notices and events, and each tenant's
-- append-only Merkle log (package ledger). Keyed by tenant id first; the
-- large tables (consents, ledger_leaves, ledger_hashes) hash-partitioned
-- by tenant_id like messages.

CREATE TABLE notices (
	tenant_id  text NOT NULL,
	purpose    text NOT NULL,
	language   text NOT NULL,
	version    bigint NOT NULL,
	text       text NOT NULL,
	hash       text NOT NULL,
	created_at timestamptz NOT NULL,
	created_by text NOT NULL,
	PRIMARY KEY (tenant_id, purpose, language, version)
);

-- Consent events. Their content (and the salt of their ledger leaf) is
-- sealed under the subject's key: destroying it leaves these rows opaque.
CREATE TABLE consents (
	tenant_id       text NOT NULL,
	id              text NOT NULL,
	subject_id      text NOT NULL,
	purpose         text NOT NULL,
	action          text NOT NULL,
	at              timestamptz NOT NULL,
	leaf_index      bigint NOT NULL,
	sealed          bytea NOT NULL,
	sealed_evidence bytea,
	PRIMARY KEY (tenant_id, id)
) PARTITION BY HASH (tenant_id);

CREATE INDEX consents_by_subject ON consents (tenant_id, subject_id, purpose, leaf_index);

-- The head of each tenant's log. Every write transaction that appends to
-- the log, or to the audit trail, locks this row (SELECT … FOR UPDATE):
-- appends to one tenant's log are serialised across nodes, and the
-- compare-and-swap on size means two writers can never both append the
-- same leaf.
CREATE TABLE ledger_heads (
	tenant_id  text PRIMARY KEY,
	size       bigint NOT NULL,
	updated_at timestamptz NOT NULL
);

CREATE TABLE ledger_leaves (
	tenant_id  text NOT NULL,
	idx        bigint NOT NULL,
	kind       text NOT NULL,
	record     bytea NOT NULL,
	salt       bytea,
	content    bytea,
	created_at timestamptz NOT NULL,
	PRIMARY KEY (tenant_id, idx)
) PARTITION BY HASH (tenant_id);

-- RFC 6962 stored hashes, at tlog.StoredHashIndex positions.
CREATE TABLE ledger_hashes (
	tenant_id text NOT NULL,
	idx       bigint NOT NULL,
	hash      bytea NOT NULL,
	PRIMARY KEY (tenant_id, idx)
) PARTITION BY HASH (tenant_id);

CREATE TABLE ledger_checkpoints (
	tenant_id  text NOT NULL,
	size       bigint NOT NULL,
	note       bytea NOT NULL,
	created_at timestamptz NOT NULL,
	PRIMARY KEY (tenant_id, size)
);

-- The checkpoint signing key: the signer sealed under a tenant data key,
-- the verifier (public) in the clear.
CREATE TABLE ledger_keys (
	tenant_id     text PRIMARY KEY,
	verifier      text NOT NULL,
	sealed_signer bytea NOT NULL,
	key_version   bigint NOT NULL,
	created_at    timestamptz NOT NULL
);

DO $$
DECLARE
	t text;
	i int;
BEGIN
	FOREACH t IN ARRAY ARRAY['consents', 'ledger_leaves', 'ledger_hashes'] LOOP
		FOR i IN 0..15 LOOP
			EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES WITH (MODULUS 16, REMAINDER %s)',
				t || '_p' || lpad(i::text, 2, '0'), t, i);
		END LOOP;
	END LOOP;
END
$$;
