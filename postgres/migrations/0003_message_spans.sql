-- What ingest anonymised in each message's text: the span map and the
-- special-category hints, sealed under the subject's key. (SQLite's
-- 0005_message_spans.sql; PostgreSQL's migrations are numbered on their
-- own, contiguously.)
ALTER TABLE messages ADD COLUMN sealed_spans bytea;
