-- The inbox is pruned oldest first (POSTWORKER_INBOX_RETENTION): the pruner
-- finds its batch by this index instead of scanning every mark.
CREATE INDEX inbox_processed_at ON inbox (processed_at);
