-- The worker's three busiest tables churn: posts are updated over and
-- over, outbox rows live a moment, inbox marks go when retention ends. At
-- the default pace (cost-limited, a fifth of the table dead first) a
-- vacuum of posts fell minutes behind in a ten-minute run (443,532 dead
-- row pointers on 29,569 pages for 20,000 posts), and every update then
-- touched more pages and wrote more WAL. Vacuumed sooner and unthrottled,
-- each pass is short.
ALTER TABLE posts SET (autovacuum_vacuum_cost_delay = 0, autovacuum_vacuum_scale_factor = 0.02);
ALTER TABLE outbox SET (autovacuum_vacuum_cost_delay = 0, autovacuum_vacuum_scale_factor = 0.02);
ALTER TABLE inbox SET (autovacuum_vacuum_cost_delay = 0, autovacuum_vacuum_scale_factor = 0.02);
