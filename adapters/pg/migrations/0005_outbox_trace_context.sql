-- The W3C trace context an event continues (its command's trace id, a span
-- of its own), published as headers and attributes; NULL when the command
-- carried none.
ALTER TABLE outbox ADD COLUMN traceparent text, ADD COLUMN tracestate text;
