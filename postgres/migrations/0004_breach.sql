-- The breach register (GDPR Art. 33(5)) and its clock (SQLite's
-- 0020_breach.sql). Keyed by tenant id first like every table; the
-- operator's scope is the empty tenant id. Small tables: not partitioned.

-- One row per scope that sees a breach: the owner's row (tenant_id =
-- owner_id) lists the affected tenants; each affected tenant has a row
-- pointing at the owner.
CREATE TABLE breaches (
	tenant_id    text NOT NULL,
	id           text NOT NULL,
	owner_id     text NOT NULL,
	tenants      text[] NOT NULL DEFAULT '{}',
	created_at   timestamptz NOT NULL,
	created_by   text NOT NULL,
	detector_key text,
	PRIMARY KEY (tenant_id, id),
	UNIQUE (tenant_id, detector_key)
);

CREATE INDEX breaches_by_time ON breaches (tenant_id, created_at);

-- The history of a breach, per scope that wrote it.
CREATE TABLE breach_events (
	tenant_id text NOT NULL,
	breach_id text NOT NULL,
	seq       bigint NOT NULL,
	at        timestamptz NOT NULL,
	actor     text NOT NULL,
	kind      text NOT NULL,
	body      bytea NOT NULL,
	PRIMARY KEY (tenant_id, breach_id, seq)
);

-- Escalations claimed and sent, one per addressed tenant, breach, point
-- and channel: the unique key, and a claim that is one INSERT … ON
-- CONFLICT DO UPDATE … WHERE, make several nodes send once.
CREATE TABLE breach_escalations (
	tenant_id   text NOT NULL,
	breach_id   text NOT NULL,
	point       bigint NOT NULL, -- seconds after awareness
	channel     text NOT NULL,
	node        text NOT NULL,
	claimed_at  timestamptz NOT NULL,
	lease_until timestamptz NOT NULL,
	attempts    bigint NOT NULL,
	sent_at     timestamptz,
	PRIMARY KEY (tenant_id, breach_id, point, channel)
);
