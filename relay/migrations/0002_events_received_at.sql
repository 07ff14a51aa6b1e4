-- edgetherm-relay schema 2: accepted event ids are forgotten after
-- [store] remember_events (default 30 days), oldest first, by the relay's
-- own stamp; without an index that is a scan of every id ever accepted.
CREATE INDEX events_received_at ON events (received_at);
