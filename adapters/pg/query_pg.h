/*
 * The read side on PostgreSQL (internal to adapters/pg beyond pw_pg_query_open,
 * declared in pg.h): the page statements, for the test that shows their plans.
 */
#ifndef PW_ADAPTERS_PG_QUERY_PG_H
#define PW_ADAPTERS_PG_QUERY_PG_H

#include "adapters/pg/pg.h"

/* A page of one author's posts after a cursor: $1 deleted, $2 limit, $3 author, $4 $5 cursor. */
extern const char pg_posts_by_author_sql[];
/* A page of all posts after a cursor: $1 deleted, $2 limit, $3 $4 cursor. */
extern const char pg_posts_all_sql[];

#endif
