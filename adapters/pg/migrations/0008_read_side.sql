-- The read side (ports/query.h). A page of posts is a keyset scan in
-- (created_at, post_id) order, by author or over all posts; the inbox
-- remembers what each command was for, so that a producer can ask what
-- became of it. Marks recorded before this migration have neither.
CREATE INDEX posts_by_author ON posts (author_name, created_at, post_id);
CREATE INDEX posts_by_created ON posts (created_at, post_id);
ALTER TABLE inbox ADD COLUMN post_id text, ADD COLUMN version integer;
-- What a held or failed command is, by its (source, id).
CREATE INDEX parked_posts_failed ON parked_posts (failed_source, failed_id);
