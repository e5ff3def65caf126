/*
 * countalloc.so: an LD_PRELOAD shim that counts a process's heap
 * allocations (malloc, calloc, realloc, the aligned ones, strdup, strndup)
 * and the bytes they ask for, and writes "allocs=N bytes=M frees=F" to the
 * file $COUNTALLOC_OUT when the process exits, if its name is
 * $COUNTALLOC_ONLY (so that the benchmark, which starts the worker, can
 * carry the same LD_PRELOAD). tools/allocs drives it. Not part of the
 * product: a measuring instrument, built only by `make allocs`.
 *
 * dlsym may allocate while it looks the real functions up: those few
 * bytes come from a static buffer and are never freed.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static _Atomic unsigned long n_allocs, n_bytes, n_frees;
static void *(*real_malloc)(size_t);
static void *(*real_calloc)(size_t, size_t);
static void *(*real_realloc)(void *, size_t);
static void (*real_free)(void *);
static int (*real_posix_memalign)(void **, size_t, size_t);
static void *(*real_aligned_alloc)(size_t, size_t);

static _Alignas(16) char boot[64 * 1024];
static _Atomic size_t boot_used;
static _Atomic int resolving;

static void *boot_alloc(size_t n)
{
    size_t size = (n + 15) & ~(size_t)15, off = atomic_fetch_add(&boot_used, size);
    return off + size <= sizeof boot ? boot + off : NULL;
}

static int in_boot(const void *p)
{
    return (const char *)p >= boot && (const char *)p < boot + sizeof boot;
}

static void resolve(void)
{
    atomic_store(&resolving, 1);
    real_calloc = dlsym(RTLD_NEXT, "calloc");
    real_realloc = dlsym(RTLD_NEXT, "realloc");
    real_free = dlsym(RTLD_NEXT, "free");
    real_posix_memalign = dlsym(RTLD_NEXT, "posix_memalign");
    real_aligned_alloc = dlsym(RTLD_NEXT, "aligned_alloc");
    void *m = dlsym(RTLD_NEXT, "malloc");
    atomic_store(&resolving, 0);
    real_malloc = m;
}

static void count(size_t n)
{
    atomic_fetch_add_explicit(&n_allocs, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&n_bytes, n, memory_order_relaxed);
}

void *malloc(size_t n)
{
    if (!real_malloc) {
        if (atomic_load(&resolving))
            return boot_alloc(n);
        resolve();
    }
    count(n);
    return real_malloc(n);
}

void *calloc(size_t a, size_t b)
{
    if (!real_calloc) {
        if (atomic_load(&resolving))
            return boot_alloc(a * b); /* the buffer is zeroed static storage */
        resolve();
    }
    count(a * b);
    return real_calloc(a, b);
}

void *realloc(void *p, size_t n)
{
    if (in_boot(p)) {
        void *q = malloc(n);
        if (q)
            memcpy(q, p, n);
        return q;
    }
    if (!real_realloc)
        resolve();
    count(n);
    return real_realloc(p, n);
}

void free(void *p)
{
    if (!p || in_boot(p))
        return;
    if (!real_free)
        resolve();
    atomic_fetch_add_explicit(&n_frees, 1, memory_order_relaxed);
    real_free(p);
}

int posix_memalign(void **out, size_t align, size_t n)
{
    if (!real_posix_memalign)
        resolve();
    count(n);
    return real_posix_memalign(out, align, n);
}

void *aligned_alloc(size_t align, size_t n)
{
    if (!real_aligned_alloc)
        resolve();
    count(n);
    return real_aligned_alloc(align, n);
}

char *strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    return d ? memcpy(d, s, n) : NULL;
}

char *strndup(const char *s, size_t max)
{
    size_t n = strnlen(s, max);
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

__attribute__((destructor)) static void countalloc_report(void)
{
    const char *out = getenv("COUNTALLOC_OUT"), *only = getenv("COUNTALLOC_ONLY");
    extern char *program_invocation_short_name;
    if (!out || (only && strcmp(only, program_invocation_short_name) != 0))
        return;
    FILE *f = fopen(out, "w");
    if (!f)
        return;
    fprintf(f, "allocs=%lu bytes=%lu frees=%lu\n", atomic_load(&n_allocs), atomic_load(&n_bytes),
            atomic_load(&n_frees));
    fclose(f);
}
