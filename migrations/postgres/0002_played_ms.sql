-- What the caller actually heard of an assistant item, in milliseconds (null for caller items).
ALTER TABLE transcript_items ADD COLUMN played_ms bigint;
