-- The number the caller dialled (SIP calls); personal data like the caller's.
ALTER TABLE calls ADD COLUMN called TEXT;
