-- A page of posts is a keyset scan in (created_at, post_id) order, by
-- author or over all posts; ties go by post_id in byte order (COLLATE "C"),
-- as on every store, whatever the database's collation. What a failed
-- command is, by its (source, id). A migration runs in a transaction, so
-- these builds hold off writes to posts while they run: on a big table,
-- build them first by hand with CREATE INDEX CONCURRENTLY, under these
-- names, and this migration then skips them.
CREATE INDEX IF NOT EXISTS posts_by_author ON posts (author_name, created_at, post_id COLLATE "C");
CREATE INDEX IF NOT EXISTS posts_by_created ON posts (created_at, post_id COLLATE "C");
CREATE INDEX IF NOT EXISTS parked_posts_failed ON parked_posts (failed_source, failed_id);
