-- The breach register (GDPR Art. 33(5)) and its clock. Keyed by tenant id
-- first like every table; the operator's scope is the empty tenant id.

-- One row per scope that sees a breach: the owner's row (tenant_id =
-- owner_id) lists the affected tenants; each affected tenant has a row
-- pointing at the owner.
CREATE TABLE breaches (
	tenant_id    TEXT NOT NULL,
	id           TEXT NOT NULL,
	owner_id     TEXT NOT NULL,
	tenants      TEXT NOT NULL DEFAULT '',
	created_at   INTEGER NOT NULL,
	created_by   TEXT NOT NULL,
	detector_key TEXT,
	PRIMARY KEY (tenant_id, id),
	UNIQUE (tenant_id, detector_key)
) STRICT;

CREATE INDEX breaches_by_time ON breaches (tenant_id, created_at);

-- The history of a breach, per scope that wrote it.
CREATE TABLE breach_events (
	tenant_id TEXT NOT NULL,
	breach_id TEXT NOT NULL,
	seq       INTEGER NOT NULL,
	at        INTEGER NOT NULL,
	actor     TEXT NOT NULL,
	kind      TEXT NOT NULL,
	body      BLOB NOT NULL,
	PRIMARY KEY (tenant_id, breach_id, seq)
) STRICT;

-- Escalations claimed and sent, one per addressed tenant, breach, point
-- and channel: the unique key is what makes several nodes send once.
CREATE TABLE breach_escalations (
	tenant_id   TEXT NOT NULL,
	breach_id   TEXT NOT NULL,
	point       INTEGER NOT NULL, -- seconds after awareness
	channel     TEXT NOT NULL,
	node        TEXT NOT NULL,
	claimed_at  INTEGER NOT NULL,
	lease_until INTEGER NOT NULL,
	attempts    INTEGER NOT NULL,
	sent_at     INTEGER,
	PRIMARY KEY (tenant_id, breach_id, point, channel)
) STRICT;
