/* safetensors.c — the Hugging Face safetensors container, read from and written to memory:
 * 8-byte little-endian header length, a JSON header {name: {dtype, shape, data_offsets}} with an
 * optional "__metadata__" object of strings, then the raw little-endian data. The reader checks
 * everything a hostile file could get wrong; the model loader (model.c), the CLI's trace and grad
 * outputs and the tests all go through these two functions. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

#define ST_MAX_HEADER  (64u << 20) /* bytes */
#define ST_MAX_TENSORS 100000

struct cope_st_file {
    json_doc doc;
    int n;
    cope_st_tensor *tensors;
    int meta; /* node of __metadata__ or -1 */
};

static const char *const dtype_names[] = {"F32", "I32"};

typedef struct {
    uint64_t b, e;
    int idx;
} span;

static int span_cmp(const void *a, const void *b) {
    const span *x = a, *y = b;
    return x->b < y->b ? -1 : x->b > y->b ? 1 : 0;
}

void cope_st_close(cope_st_file *f) {
    if (!f) return;
    json_free(&f->doc);
    free(f->tensors);
    free(f);
}

int cope_st_count(const cope_st_file *f) { return f->n; }
const cope_st_tensor *cope_st_get(const cope_st_file *f, int i) { return i >= 0 && i < f->n ? &f->tensors[i] : NULL; }
int cope_st_find(const cope_st_file *f, const char *name) {
    for (int i = 0; i < f->n; i++)
        if (strcmp(f->tensors[i].name, name) == 0) return i;
    return -1;
}
const char *cope_st_metadata(const cope_st_file *f, const char *key, size_t *len) {
    int n = json_get(&f->doc, f->meta, key);
    if (n < 0) return NULL;
    if (len) *len = f->doc.nodes[n].str_len;
    return f->doc.nodes[n].str;
}

static cope_status tensor_entry(cope_st_file *f, int k, const unsigned char *data, uint64_t data_len, cope_st_tensor *t,
                                span *sp, cope_error *err) {
    const json_doc *d = &f->doc;
    const char *name = d->nodes[k].key;
    if (d->nodes[k].type != JSON_OBJ)
        return cope_fail(err, COPE_ERR_HEADER, "tensor \"%.120s\": entry is not an object", name);
    for (int c = d->nodes[k].first_child; c >= 0; c = d->nodes[c].next)
        if (strcmp(d->nodes[c].key, "dtype") && strcmp(d->nodes[c].key, "shape") &&
            strcmp(d->nodes[c].key, "data_offsets"))
            return cope_fail(err, COPE_ERR_HEADER, "tensor \"%.120s\": unknown field \"%.40s\"", name, d->nodes[c].key);
    int dt = json_get(d, k, "dtype"), sh = json_get(d, k, "shape"), of = json_get(d, k, "data_offsets");
    if (dt < 0 || sh < 0 || of < 0)
        return cope_fail(err, COPE_ERR_HEADER, "tensor \"%.120s\": needs dtype, shape and data_offsets", name);
    t->name = name;
    t->dtype = -1;
    for (int i = 0; i < 2; i++)
        if (d->nodes[dt].type == JSON_STR && strcmp(d->nodes[dt].str, dtype_names[i]) == 0) t->dtype = i;
    if (t->dtype < 0)
        return cope_fail(err, COPE_ERR_DTYPE, "tensor \"%.120s\": dtype %.16s is not supported (F32 or I32)", name,
                         d->nodes[dt].type == JSON_STR ? d->nodes[dt].str : "(not a string)");
    if (d->nodes[sh].type != JSON_ARR || d->nodes[sh].count > COPE_ST_MAX_DIMS)
        return cope_fail(err, COPE_ERR_SHAPE, "tensor \"%.120s\": shape must be an array of at most %d sizes", name,
                         COPE_ST_MAX_DIMS);
    t->ndim = d->nodes[sh].count;
    uint64_t numel = 1;
    int ax = 0;
    for (int c = d->nodes[sh].first_child; c >= 0; c = d->nodes[c].next, ax++) {
        long long v;
        if (!json_int(d, c, 0, (long long)1 << 40, &v))
            return cope_fail(err, COPE_ERR_SHAPE, "tensor \"%.120s\": shape[%d] is not a size", name, ax);
        t->shape[ax] = v;
        numel *= (uint64_t)v;
        if (numel > ((uint64_t)1 << 40))
            return cope_fail(err, COPE_ERR_LIMIT, "tensor \"%.120s\": too many elements", name);
    }
    long long ob, oe;
    int c0 = d->nodes[of].type == JSON_ARR && d->nodes[of].count == 2 ? d->nodes[of].first_child : -1;
    if (c0 < 0 || !json_int(d, c0, 0, (long long)1 << 53, &ob) ||
        !json_int(d, d->nodes[c0].next, 0, (long long)1 << 53, &oe))
        return cope_fail(err, COPE_ERR_OFFSETS, "tensor \"%.120s\": data_offsets must be two non-negative integers",
                         name);
    if (ob > oe)
        return cope_fail(err, COPE_ERR_OFFSETS, "tensor \"%.100s\": data_offsets [%lld, %lld] end before they begin",
                         name, ob, oe);
    if ((uint64_t)(oe - ob) != numel * 4)
        return cope_fail(err, COPE_ERR_OFFSETS, "tensor \"%.100s\": data_offsets span %lld bytes, its shape needs %llu",
                         name, oe - ob, (unsigned long long)(numel * 4));
    t->numel = (size_t)numel;
    t->nbytes = (size_t)(oe - ob);
    t->data = (uint64_t)oe <= data_len ? data + ob : NULL; /* range checked by the caller */
    sp->b = (uint64_t)ob;
    sp->e = (uint64_t)oe;
    return COPE_OK;
}

static uint64_t read_u64le(const unsigned char *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

cope_status cope_st_open(cope_st_file **out, const void *buf, size_t len, cope_error *err) {
    *out = NULL;
    const unsigned char *p = buf;
    if (!buf || len < 8)
        return cope_fail(err, COPE_ERR_TRUNCATED, "file is %zu bytes, too short for a safetensors header", len);
    uint64_t hlen = read_u64le(p);
    if (hlen > ST_MAX_HEADER)
        return cope_fail(err, COPE_ERR_HEADER, "header length %llu is absurd (limit %u bytes)",
                         (unsigned long long)hlen, ST_MAX_HEADER);
    if (hlen > len - 8)
        return cope_fail(err, COPE_ERR_TRUNCATED,
                         "file is truncated: header length %llu runs past the end of the %zu-byte file",
                         (unsigned long long)hlen, len);
    cope_st_file *f = calloc(1, sizeof *f);
    if (!f) return cope_fail(err, COPE_ERR_NOMEM, "out of memory");
    f->meta = -1;
    cope_status st = json_parse(&f->doc, (const char *)p + 8, (size_t)hlen, err);
    if (st) {
        char msg[256];
        snprintf(msg, sizeof msg, "%s", err ? err->msg : "");
        if (err) cope_fail(err, st, "header: %.200s", msg);
        free(f);
        return st;
    }
    const json_doc *d = &f->doc;
    span *spans = NULL;
    if (d->nodes[0].type != JSON_OBJ) {
        st = cope_fail(err, COPE_ERR_HEADER, "header is not a JSON object");
        goto fail;
    }
    if (d->nodes[0].count > ST_MAX_TENSORS) {
        st = cope_fail(err, COPE_ERR_LIMIT, "header lists %d tensors (limit %d)", d->nodes[0].count, ST_MAX_TENSORS);
        goto fail;
    }
    f->meta = json_get(d, 0, "__metadata__");
    if (f->meta >= 0) {
        if (d->nodes[f->meta].type != JSON_OBJ) {
            st = cope_fail(err, COPE_ERR_HEADER, "__metadata__ is not an object");
            goto fail;
        }
        for (int k = d->nodes[f->meta].first_child; k >= 0; k = d->nodes[k].next)
            if (d->nodes[k].type != JSON_STR) {
                st = cope_fail(err, COPE_ERR_HEADER, "__metadata__ value \"%.100s\" is not a string", d->nodes[k].key);
                goto fail;
            }
    }
    int cap = d->nodes[0].count;
    f->tensors = calloc((size_t)cap + 1, sizeof(cope_st_tensor));
    spans = calloc((size_t)cap + 1, sizeof(span));
    if (!f->tensors || !spans) {
        st = cope_fail(err, COPE_ERR_NOMEM, "out of memory");
        goto fail;
    }
    const unsigned char *data = p + 8 + hlen;
    uint64_t data_len = (uint64_t)(len - 8 - hlen);
    for (int k = d->nodes[0].first_child; k >= 0; k = d->nodes[k].next) {
        if (k == f->meta) continue;
        for (int i = 0; i < f->n; i++)
            if (strcmp(f->tensors[i].name, d->nodes[k].key) == 0) {
                st = cope_fail(err, COPE_ERR_HEADER, "tensor \"%.120s\" appears twice", d->nodes[k].key);
                goto fail;
            }
        if ((st = tensor_entry(f, k, data, data_len, &f->tensors[f->n], &spans[f->n], err))) goto fail;
        spans[f->n].idx = f->n;
        f->n++;
    }
    /* Data past the end: a file cut short (the tensors tile the announced size) or bad offsets. */
    uint64_t max_end = 0, total = 0;
    int far = -1;
    for (int i = 0; i < f->n; i++) {
        total += spans[i].e - spans[i].b;
        if (spans[i].e > max_end) max_end = spans[i].e;
        if (far < 0 && spans[i].e > data_len) far = i;
    }
    if (far >= 0) {
        if (total == max_end)
            st = cope_fail(err, COPE_ERR_TRUNCATED,
                           "file is truncated: the data section has %llu bytes, the header needs %llu",
                           (unsigned long long)data_len, (unsigned long long)max_end);
        else
            st = cope_fail(err, COPE_ERR_OFFSETS,
                           "tensor \"%.100s\": data_offsets [%llu, %llu] outside the data section (%llu bytes)",
                           f->tensors[far].name, (unsigned long long)spans[far].b, (unsigned long long)spans[far].e,
                           (unsigned long long)data_len);
        goto fail;
    }
    qsort(spans, (size_t)f->n, sizeof(span), span_cmp);
    for (int i = 1; i < f->n; i++)
        if (spans[i].b < spans[i - 1].e) {
            st = cope_fail(err, COPE_ERR_OVERLAP, "tensors \"%.100s\" and \"%.100s\" overlap in the data section",
                           f->tensors[spans[i - 1].idx].name, f->tensors[spans[i].idx].name);
            goto fail;
        }
    free(spans);
    *out = f;
    return COPE_OK;
fail:
    free(spans);
    cope_st_close(f);
    return st;
}

cope_status cope_st_write(const cope_st_tensor *ts, int n, const char *meta_key, const char *meta_value, void **out,
                          size_t *out_len, cope_error *err) {
    *out = NULL;
    *out_len = 0;
    cope_buf h = {0};
    buf_puts(&h, "{");
    if (meta_key) {
        buf_puts(&h, "\"__metadata__\": {");
        buf_json_string(&h, meta_key, strlen(meta_key));
        buf_puts(&h, ": ");
        buf_json_string(&h, meta_value, strlen(meta_value));
        buf_puts(&h, "}");
    }
    uint64_t off = 0;
    for (int i = 0; i < n; i++) {
        const cope_st_tensor *t = &ts[i];
        if (t->dtype < 0 || t->dtype > 1 || t->ndim < 0 || t->ndim > COPE_ST_MAX_DIMS) {
            free(h.data);
            return cope_fail(err, COPE_ERR_ARG, "tensor \"%.120s\": bad dtype or rank", t->name);
        }
        if (meta_key || i) buf_puts(&h, ", ");
        buf_json_string(&h, t->name, strlen(t->name));
        buf_printf(&h, ": {\"dtype\": \"%s\", \"shape\": [", dtype_names[t->dtype]);
        for (int a = 0; a < t->ndim; a++) buf_printf(&h, "%s%lld", a ? ", " : "", (long long)t->shape[a]);
        /* contiguous, in order: the Python package rejects gaps between tensors */
        buf_printf(&h, "], \"data_offsets\": [%llu, %llu]}", (unsigned long long)off,
                   (unsigned long long)(off + t->numel * 4));
        off += (uint64_t)t->numel * 4;
    }
    buf_puts(&h, "}");
    while (!h.oom && (h.len + 8) % 8) buf_puts(&h, " "); /* data section starts 8-byte aligned (no room: oom below) */
    if (h.oom) {
        free(h.data);
        return cope_fail(err, COPE_ERR_NOMEM, "out of memory writing header");
    }
    size_t total = 8 + h.len + (size_t)off;
    unsigned char *b = malloc(total);
    if (!b) {
        free(h.data);
        return cope_fail(err, COPE_ERR_NOMEM, "out of memory (%zu bytes)", total);
    }
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)((uint64_t)h.len >> (8 * i));
    memcpy(b + 8, h.data, h.len);
    size_t pos = 8 + h.len;
    free(h.data);
    for (int i = 0; i < n; i++) { /* little-endian hosts only (x86, arm, wasm) */
        memcpy(b + pos, ts[i].data, ts[i].numel * 4);
        pos += ts[i].numel * 4;
    }
    *out = b;
    *out_len = total;
    return COPE_OK;
}
