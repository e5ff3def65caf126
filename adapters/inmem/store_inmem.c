/*
 * The in-memory store's life cycle. Its state is read and written by the
 * unit of work and the outbox reader; this file only makes and frees it.
 */
#include "adapters/inmem/inmem.h"

#include <stdlib.h>

#include "adapters/inmem/store.h"

void inmem_post_free(void *val)
{
    struct pw_post *post = val;
    if (post)
        pw_post_release(post);
    free(post);
}

struct pw_inmem_store *pw_inmem_store_new(void)
{
    struct pw_inmem_store *store = calloc(1, sizeof *store);
    if (!store)
        return NULL;
    if (pthread_mutex_init(&store->lock, NULL) != 0) {
        free(store);
        return NULL;
    }
    store->next_seq = 1;
    return store;
}

void pw_inmem_store_free(struct pw_inmem_store *store)
{
    if (!store)
        return;
    inmem_map_clear(&store->posts, inmem_post_free);
    inmem_map_clear(&store->inbox, NULL);
    inmem_map_clear(&store->offsets, NULL);
    inmem_map_clear(&store->attempts, free);
    for (size_t i = store->outbox_head; i < store->outbox_len; i++)
        pw_out_release(&store->outbox[i].out);
    free(store->outbox);
    pthread_mutex_destroy(&store->lock);
    free(store);
}
