#include "adapters/curl/curl.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define PW_CURL_BODY_MAX (64u << 20)

static size_t curl_body(char *p, size_t size, size_t n, void *arg)
{
    struct pw_http_reply *r = arg;
    size_t add = size * n;
    if (r->len + add > PW_CURL_BODY_MAX)
        return 0;
    char *grown = realloc(r->body, r->len + add + 1);
    if (!grown)
        return 0;
    memcpy(grown + r->len, p, add);
    r->body = grown;
    r->len += add;
    r->body[r->len] = '\0';
    return add;
}

static size_t curl_header(char *p, size_t size, size_t n, void *arg)
{
    struct pw_http_reply *r = arg;
    size_t len = size * n;
    static const struct { const char *name; size_t off, size; } keep[] = {
        {"etag:", offsetof(struct pw_http_reply, etag), sizeof ((struct pw_http_reply *)0)->etag},
        {"content-type:", offsetof(struct pw_http_reply, content_type),
         sizeof ((struct pw_http_reply *)0)->content_type},
    };
    for (size_t k = 0; k < sizeof keep / sizeof keep[0]; k++) {
        size_t nl = strlen(keep[k].name);
        if (len > nl && strncasecmp(p, keep[k].name, nl) == 0) {
            const char *v = p + nl;
            size_t vl = len - nl;
            while (vl && (*v == ' ' || *v == '\t'))
                v++, vl--;
            while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' '))
                vl--;
            snprintf((char *)r + keep[k].off, keep[k].size, "%.*s", (int)vl, v);
        }
    }
    return len;
}

enum pw_err pw_curl_get(const char *url, const char *header, long timeout_ms,
                        struct pw_http_reply *r, struct pw_errbuf *err)
{
    memset(r, 0, sizeof *r);
    CURL *c = curl_easy_init();
    if (!c)
        return pw_err_set(err, PW_E_NOMEM, "cannot start an HTTP client");
    struct curl_slist *hs = header ? curl_slist_append(NULL, header) : NULL;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms < 5000 ? timeout_ms : 5000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, curl_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, curl_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    if (hs)
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, hs);
    CURLcode rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    curl_slist_free_all(hs);
    curl_easy_cleanup(c);
    if (rc == CURLE_WRITE_ERROR) {
        pw_http_reply_release(r);
        return pw_err_set(err, PW_E_TOO_LARGE, "the answer from %.200s is too large", url);
    }
    if (rc != CURLE_OK) {
        pw_http_reply_release(r);
        return pw_err_set(err, PW_E_TRANSIENT, "GET %.200s: %s", url, curl_easy_strerror(rc));
    }
    if (!r->body && !(r->body = calloc(1, 1)))
        return pw_err_set(err, PW_E_NOMEM, "out of memory");
    return PW_OK;
}

void pw_http_reply_release(struct pw_http_reply *r)
{
    free(r->body);
    memset(r, 0, sizeof *r);
}

char *pw_curl_escape(const char *s)
{
    char *e = curl_easy_escape(NULL, s, 0);
    char *copy = e ? strdup(e) : NULL;
    curl_free(e);
    return copy;
}
