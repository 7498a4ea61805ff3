-- Audit sequence numbers become per tenant (SQLite's 0006): a global
-- sequence would let one tenant count the events of all others from the
-- gaps in its own. Appends of a tenant hold its ledger head row lock, so
-- reading the tenant's last seq and adding to it is safe.
ALTER TABLE audit ALTER COLUMN seq DROP DEFAULT;
DROP SEQUENCE audit_seq;
-- Renumber 1, 2, 3… per tenant in the old order. Negate first so that no
-- intermediate value collides with another row's key.
UPDATE audit SET seq = -seq;
UPDATE audit a SET seq = r.n
FROM (SELECT tenant_id, seq, row_number() OVER (PARTITION BY tenant_id ORDER BY seq DESC) AS n FROM audit) r
WHERE a.tenant_id = r.tenant_id AND a.seq = r.seq;
