-- voxgate durable schema (Postgres). Tenant isolation: every tenant-scoped table has row-level
-- security keyed on the per-transaction setting `voxgate.tenant_id`; platform operations
-- (authentication, tenant administration) set `voxgate.platform = on` instead. The server works
-- as this database's non-superuser application role (see voxgate_app_role(); it switches to it
-- right after connecting), so the policies bind it; FORCE makes them bind the table owner too.

-- The application role is per database (`voxgate_app_` + 12 hex digits of md5(database name)):
-- roles are cluster-wide, so a shared name would let one deployment's user into another's
-- database on the same cluster.
CREATE FUNCTION voxgate_app_role() RETURNS text
    LANGUAGE sql STABLE
    AS $$ SELECT 'voxgate_app_' || substr(md5(current_database()), 1, 12) $$;

DO $$
DECLARE
    app text := voxgate_app_role();
BEGIN
    BEGIN
        EXECUTE format('CREATE ROLE %I NOLOGIN', app);
    EXCEPTION WHEN duplicate_object OR unique_violation THEN
        NULL;
    END;
    IF current_user <> app THEN
        BEGIN
            EXECUTE format('GRANT %I TO %I', app, current_user);
        EXCEPTION WHEN duplicate_object OR unique_violation OR insufficient_privilege THEN
            NULL;
        END;
    END IF;
END
$$;

CREATE FUNCTION voxgate_current_tenant() RETURNS uuid
    LANGUAGE sql STABLE
    AS $$ SELECT NULLIF(current_setting('voxgate.tenant_id', true), '')::uuid $$;

CREATE FUNCTION voxgate_platform() RETURNS boolean
    LANGUAGE sql STABLE
    AS $$ SELECT coalesce(current_setting('voxgate.platform', true), '') = 'on' $$;

CREATE TABLE tenants (
    id          uuid PRIMARY KEY,
    name        text NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL
);

CREATE TABLE api_keys (
    id          uuid PRIMARY KEY,
    tenant_id   uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    label       text NOT NULL,
    salt        bytea NOT NULL,
    hash        bytea NOT NULL,
    created_at  timestamptz NOT NULL,
    revoked_at  timestamptz
);

CREATE TABLE agents (
    tenant_id   uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name        text NOT NULL,
    version     bigint NOT NULL CHECK (version > 0),
    spec        jsonb NOT NULL,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, name)
);

CREATE TABLE agent_versions (
    tenant_id   uuid NOT NULL,
    name        text NOT NULL,
    version     bigint NOT NULL,
    spec        jsonb NOT NULL,
    created_at  timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, name, version),
    FOREIGN KEY (tenant_id, name) REFERENCES agents (tenant_id, name) ON DELETE CASCADE
);

CREATE TABLE idempotency_keys (
    tenant_id     uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    key           text NOT NULL,
    request_hash  text NOT NULL,
    agent_name    text NOT NULL,
    created_at    timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, key)
);

CREATE TABLE calls (
    id          uuid PRIMARY KEY,
    tenant_id   uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    agent       text NOT NULL,
    transport   text NOT NULL,
    caller      text,
    status      text NOT NULL,
    started_at  timestamptz NOT NULL,
    ended_at    timestamptz,
    end_reason  text,
    UNIQUE (id, tenant_id)
);
CREATE INDEX calls_by_tenant_time ON calls (tenant_id, started_at DESC, id DESC);

CREATE TABLE transcript_items (
    tenant_id   uuid NOT NULL,
    call_id     uuid NOT NULL,
    seq         bigint NOT NULL,
    role        text NOT NULL,
    text        text NOT NULL,
    at          timestamptz NOT NULL,
    PRIMARY KEY (call_id, seq),
    -- An item belongs to a call of its own tenant, whatever the code does.
    FOREIGN KEY (call_id, tenant_id) REFERENCES calls (id, tenant_id) ON DELETE CASCADE
);

CREATE TABLE incidents (
    id          uuid PRIMARY KEY,
    tenant_id   uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    agent       text,
    call_id     uuid,
    at          timestamptz NOT NULL,
    mode        text NOT NULL,
    severity    text NOT NULL,
    action      text NOT NULL,
    detail      jsonb NOT NULL
);
CREATE INDEX incidents_by_tenant_time ON incidents (tenant_id, at DESC, id DESC);
CREATE INDEX incidents_by_tenant_mode ON incidents (tenant_id, mode, at);

CREATE TABLE usage_records (
    id             bigserial PRIMARY KEY,
    tenant_id      uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    agent          text NOT NULL,
    call_id        uuid,
    at             timestamptz NOT NULL,
    provider       text NOT NULL,
    model          text NOT NULL,
    input_tokens   bigint NOT NULL,
    output_tokens  bigint NOT NULL,
    audio_seconds  double precision NOT NULL,
    cost_usd       double precision NOT NULL
);
CREATE INDEX usage_by_tenant_time ON usage_records (tenant_id, at);

-- Row-level security.
ALTER TABLE tenants ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenants FORCE ROW LEVEL SECURITY;
-- A tenant may read its own row; only platform operations create, change or delete tenants.
CREATE POLICY tenant_reads_itself ON tenants FOR SELECT
    USING (voxgate_platform() OR id = voxgate_current_tenant());
CREATE POLICY platform_writes ON tenants FOR ALL
    USING (voxgate_platform())
    WITH CHECK (voxgate_platform());

ALTER TABLE api_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE api_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON api_keys
    USING (voxgate_platform() OR tenant_id = voxgate_current_tenant())
    WITH CHECK (voxgate_platform() OR tenant_id = voxgate_current_tenant());

ALTER TABLE agents ENABLE ROW LEVEL SECURITY;
ALTER TABLE agents FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON agents
    USING (tenant_id = voxgate_current_tenant())
    WITH CHECK (tenant_id = voxgate_current_tenant());

ALTER TABLE agent_versions ENABLE ROW LEVEL SECURITY;
ALTER TABLE agent_versions FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON agent_versions
    USING (tenant_id = voxgate_current_tenant())
    WITH CHECK (tenant_id = voxgate_current_tenant());

ALTER TABLE idempotency_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE idempotency_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON idempotency_keys
    USING (tenant_id = voxgate_current_tenant())
    WITH CHECK (tenant_id = voxgate_current_tenant());

ALTER TABLE calls ENABLE ROW LEVEL SECURITY;
ALTER TABLE calls FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON calls
    USING (tenant_id = voxgate_current_tenant())
    WITH CHECK (tenant_id = voxgate_current_tenant());

ALTER TABLE transcript_items ENABLE ROW LEVEL SECURITY;
ALTER TABLE transcript_items FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON transcript_items
    USING (tenant_id = voxgate_current_tenant())
    WITH CHECK (tenant_id = voxgate_current_tenant());

ALTER TABLE incidents ENABLE ROW LEVEL SECURITY;
ALTER TABLE incidents FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON incidents
    USING (tenant_id = voxgate_current_tenant())
    WITH CHECK (tenant_id = voxgate_current_tenant());

ALTER TABLE usage_records ENABLE ROW LEVEL SECURITY;
ALTER TABLE usage_records FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON usage_records
    USING (tenant_id = voxgate_current_tenant())
    WITH CHECK (tenant_id = voxgate_current_tenant());

-- Privileges of the application role: exactly voxgate's tables (not _sqlx_migrations).
DO $$
DECLARE
    app text := voxgate_app_role();
BEGIN
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO %I', current_schema(), app);
    EXECUTE format(
        'GRANT SELECT, INSERT, UPDATE, DELETE ON tenants, api_keys, agents, agent_versions, '
        'idempotency_keys, calls, transcript_items, incidents, usage_records TO %I', app);
    EXECUTE format('GRANT USAGE ON SEQUENCE usage_records_id_seq TO %I', app);
    EXECUTE format(
        'GRANT EXECUTE ON FUNCTION voxgate_current_tenant(), voxgate_platform(), '
        'voxgate_app_role() TO %I', app);
END
$$;
