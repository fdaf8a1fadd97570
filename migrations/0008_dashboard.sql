-- SPDX-License-Identifier: MIT
-- The dashboard's sign-in. An operator key (`agentcron keys create USER --operator`) sees and
-- manages every user's tasks, runs, credits and keys; any other key only its own user's.
ALTER TABLE api_keys ADD COLUMN operator boolean NOT NULL DEFAULT false;

-- A browser session: an API key exchanged for a random token kept in an HttpOnly cookie. Only
-- the token's SHA-256 is stored. It ends at expires_at, when signed out (revoked_at), or when
-- its key is revoked (checked on every request).
CREATE TABLE web_sessions (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    token_sha256 bytea NOT NULL UNIQUE CHECK (length(token_sha256) = 32),
    key_id       bigint NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    revoked_at   timestamptz,
    client       text NOT NULL DEFAULT '' CHECK (length(client) <= 64)
);
CREATE INDEX web_sessions_key ON web_sessions (key_id);
CREATE INDEX web_sessions_expires ON web_sessions (expires_at);
