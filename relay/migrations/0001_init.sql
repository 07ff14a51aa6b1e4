-- edgetherm-relay schema 1: everything the relay keeps, shared by every
-- relay of a fleet. Bodies are the same JSON the sled backend stores.

CREATE TABLE gateways (
    id           text PRIMARY KEY,
    created_at   text NOT NULL,
    -- SHA-256 of the gateway's token, hex; the token itself is never kept.
    token_sha256 text NOT NULL UNIQUE
);

-- Every accepted event id: the idempotency record, across all relays.
CREATE TABLE events (
    id          text PRIMARY KEY,
    gateway     text NOT NULL,
    received_at text NOT NULL
);

-- Accepted events waiting to be routed into send jobs.
CREATE TABLE pending (
    seq  bigserial PRIMARY KEY,
    body jsonb NOT NULL
);

CREATE TABLE heartbeats (
    gateway text PRIMARY KEY,
    body    jsonb NOT NULL
);

CREATE TABLE conversations (
    id   text PRIMARY KEY,
    body jsonb NOT NULL
);

-- Named collections: Graph install reports, the liveness watch.
CREATE TABLE records (
    collection text NOT NULL,
    key        text NOT NULL,
    body       jsonb NOT NULL,
    PRIMARY KEY (collection, key)
);

CREATE TABLE jobs (
    seq           bigserial PRIMARY KEY,
    conversation  text NOT NULL,
    not_before_ms bigint NOT NULL,
    body          jsonb NOT NULL
);
CREATE INDEX jobs_by_conversation ON jobs (conversation, seq);

-- The card posted for an alert episode in a conversation (updated in place).
CREATE TABLE deliveries (
    episode      text NOT NULL,
    conversation text NOT NULL,
    body         jsonb NOT NULL,
    PRIMARY KEY (episode, conversation)
);

CREATE TABLE open_alerts (
    episode text PRIMARY KEY,
    body    jsonb NOT NULL
);

-- Fleet-wide roles (routing, the Graph pass, the liveness watch): one holder each.
CREATE TABLE leases (
    name       text PRIMARY KEY,
    holder     text NOT NULL,
    expires_at timestamptz NOT NULL
);

-- Which relay sends to a conversation: one at a time, so Teams'
-- per-conversation limits hold across the fleet.
CREATE TABLE conversation_leases (
    conversation text PRIMARY KEY,
    holder       text NOT NULL,
    expires_at   timestamptz NOT NULL
);

-- Recent sends per conversation, for the limits of whichever relay takes a
-- conversation over; older than an hour is pruned.
CREATE TABLE sends (
    conversation text NOT NULL,
    at_ms        bigint NOT NULL
);
CREATE INDEX sends_by_conversation ON sends (conversation, at_ms);
CREATE INDEX sends_by_age ON sends (at_ms);
