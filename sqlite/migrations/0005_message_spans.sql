-- What ingest anonymised in each message's text: the span map and the
-- special-category hints, sealed under the subject's key.
ALTER TABLE messages ADD COLUMN sealed_spans BLOB;
