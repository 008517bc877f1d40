-- voxgate durable schema (embedded SQLite). Times are Unix milliseconds (UTC); ids are UUIDs.
-- SQLite has no row-level security: tenant isolation is the tenant filter in every query.

CREATE TABLE tenants (
    id          BLOB PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    created_at  INTEGER NOT NULL
);

CREATE TABLE api_keys (
    id          BLOB PRIMARY KEY,
    tenant_id   BLOB NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    label       TEXT NOT NULL,
    salt        BLOB NOT NULL,
    hash        BLOB NOT NULL,
    created_at  INTEGER NOT NULL,
    revoked_at  INTEGER
);

CREATE TABLE agents (
    tenant_id   BLOB NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    version     INTEGER NOT NULL CHECK (version > 0),
    spec        TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, name)
);

CREATE TABLE agent_versions (
    tenant_id   BLOB NOT NULL,
    name        TEXT NOT NULL,
    version     INTEGER NOT NULL,
    spec        TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, name, version),
    FOREIGN KEY (tenant_id, name) REFERENCES agents (tenant_id, name) ON DELETE CASCADE
);

CREATE TABLE idempotency_keys (
    tenant_id     BLOB NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    key           TEXT NOT NULL,
    request_hash  TEXT NOT NULL,
    agent_name    TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, key)
);

CREATE TABLE calls (
    id          BLOB PRIMARY KEY,
    tenant_id   BLOB NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    agent       TEXT NOT NULL,
    transport   TEXT NOT NULL,
    caller      TEXT,
    status      TEXT NOT NULL,
    started_at  INTEGER NOT NULL,
    ended_at    INTEGER,
    end_reason  TEXT,
    UNIQUE (id, tenant_id)
);
CREATE INDEX calls_by_tenant_time ON calls (tenant_id, started_at DESC, id DESC);

CREATE TABLE transcript_items (
    tenant_id   BLOB NOT NULL,
    call_id     BLOB NOT NULL,
    seq         INTEGER NOT NULL,
    role        TEXT NOT NULL,
    text        TEXT NOT NULL,
    at          INTEGER NOT NULL,
    PRIMARY KEY (call_id, seq),
    FOREIGN KEY (call_id, tenant_id) REFERENCES calls (id, tenant_id) ON DELETE CASCADE
);

CREATE TABLE incidents (
    id          BLOB PRIMARY KEY,
    tenant_id   BLOB NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    agent       TEXT,
    call_id     BLOB,
    at          INTEGER NOT NULL,
    mode        TEXT NOT NULL,
    severity    TEXT NOT NULL,
    action      TEXT NOT NULL,
    detail      TEXT NOT NULL
);
CREATE INDEX incidents_by_tenant_time ON incidents (tenant_id, at DESC, id DESC);
CREATE INDEX incidents_by_tenant_mode ON incidents (tenant_id, mode, at);

CREATE TABLE usage_records (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id      BLOB NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    agent          TEXT NOT NULL,
    call_id        BLOB,
    at             INTEGER NOT NULL,
    provider       TEXT NOT NULL,
    model          TEXT NOT NULL,
    input_tokens   INTEGER NOT NULL,
    output_tokens  INTEGER NOT NULL,
    audio_seconds  REAL NOT NULL,
    cost_usd       REAL NOT NULL
);
CREATE INDEX usage_by_tenant_time ON usage_records (tenant_id, at);
