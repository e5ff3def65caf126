-- The read side (ports/query.h): the inbox remembers what each command was
-- for, so that a producer can ask what became of it. Marks recorded before
-- this migration have neither. Nullable columns with no default: a change
-- of the catalogue only, however big the table.
ALTER TABLE inbox ADD COLUMN post_id text, ADD COLUMN version integer;
