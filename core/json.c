/* json.c — a strict JSON parser (RFC 8259) into a flat node array, plus the byte buffer used by
 * the writers. Strict on purpose: model files come from strangers. Depth is bounded, all sizes are
 * checked, strings are decoded (escapes and \u surrogate pairs) into one side buffer. */
#include "json.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------------------------------------
 * Parser */
typedef struct {
    const char *s;
    size_t len, pos;
    json_doc *doc;
    int cap_nodes;
    size_t str_used;
    cope_error *err;
} parser;

static cope_status perr(parser *p, const char *what) {
    return cope_fail(p->err, COPE_ERR_JSON, "JSON syntax error at byte %zu: %s", p->pos, what);
}

static void skip_ws(parser *p) {
    while (p->pos < p->len) {
        char c = p->s[p->pos];
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r')
            p->pos++;
        else
            break;
    }
}

static int new_node(parser *p, json_type t) {
    if (p->doc->n_nodes >= p->cap_nodes) return -1;
    int i = p->doc->n_nodes++;
    json_node *n = &p->doc->nodes[i];
    memset(n, 0, sizeof *n);
    n->type = t;
    n->first_child = -1;
    n->next = -1;
    return i;
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static int read_hex4(parser *p, unsigned *out) {
    if (p->pos + 4 > p->len) return 0;
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hexval(p->s[p->pos + i]);
        if (h < 0) return 0;
        v = v * 16 + (unsigned)h;
    }
    p->pos += 4;
    *out = v;
    return 1;
}

/* Decodes a string starting at the opening quote into the string buffer. The decoded form is never
 * longer than the source, so the buffer (sized len + nodes) cannot overflow. */
static cope_status parse_string(parser *p, const char **out, size_t *out_len) {
    char *dst = p->doc->strings + p->str_used;
    size_t n = 0;
    p->pos++; /* opening quote */
    for (;;) {
        if (p->pos >= p->len) return perr(p, "unterminated string");
        unsigned char c = (unsigned char)p->s[p->pos++];
        if (c == '"') break;
        if (c < 0x20) return perr(p, "control character in string");
        if (c != '\\') {
            dst[n++] = (char)c;
            continue;
        }
        if (p->pos >= p->len) return perr(p, "unterminated escape");
        char e = p->s[p->pos++];
        switch (e) {
        case '"': dst[n++] = '"'; break;
        case '\\': dst[n++] = '\\'; break;
        case '/': dst[n++] = '/'; break;
        case 'b': dst[n++] = '\b'; break;
        case 'f': dst[n++] = '\f'; break;
        case 'n': dst[n++] = '\n'; break;
        case 'r': dst[n++] = '\r'; break;
        case 't': dst[n++] = '\t'; break;
        case 'u': {
            unsigned cp;
            if (!read_hex4(p, &cp)) return perr(p, "bad \\u escape");
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                unsigned lo;
                if (p->pos + 2 > p->len || p->s[p->pos] != '\\' || p->s[p->pos + 1] != 'u')
                    return perr(p, "unpaired surrogate");
                p->pos += 2;
                if (!read_hex4(p, &lo) || lo < 0xDC00 || lo > 0xDFFF) return perr(p, "unpaired surrogate");
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                return perr(p, "unpaired surrogate");
            }
            /* UTF-8 encode; at most 4 bytes from at least 6 source bytes */
            if (cp < 0x80)
                dst[n++] = (char)cp;
            else if (cp < 0x800) {
                dst[n++] = (char)(0xC0 | (cp >> 6));
                dst[n++] = (char)(0x80 | (cp & 0x3F));
            } else if (cp < 0x10000) {
                dst[n++] = (char)(0xE0 | (cp >> 12));
                dst[n++] = (char)(0x80 | ((cp >> 6) & 0x3F));
                dst[n++] = (char)(0x80 | (cp & 0x3F));
            } else {
                dst[n++] = (char)(0xF0 | (cp >> 18));
                dst[n++] = (char)(0x80 | ((cp >> 12) & 0x3F));
                dst[n++] = (char)(0x80 | ((cp >> 6) & 0x3F));
                dst[n++] = (char)(0x80 | (cp & 0x3F));
            }
            break;
        }
        default: return perr(p, "bad escape");
        }
    }
    dst[n] = '\0';
    p->str_used += n + 1;
    *out = dst;
    *out_len = n;
    return COPE_OK;
}

static cope_status parse_number(parser *p, double *out) {
    size_t b = p->pos;
    if (p->pos < p->len && p->s[p->pos] == '-') p->pos++;
    if (p->pos >= p->len) return perr(p, "bad number");
    if (p->s[p->pos] == '0')
        p->pos++;
    else if (p->s[p->pos] >= '1' && p->s[p->pos] <= '9')
        while (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9') p->pos++;
    else
        return perr(p, "bad number");
    if (p->pos < p->len && p->s[p->pos] == '.') {
        p->pos++;
        size_t d = p->pos;
        while (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9') p->pos++;
        if (p->pos == d) return perr(p, "bad number");
    }
    if (p->pos < p->len && (p->s[p->pos] == 'e' || p->s[p->pos] == 'E')) {
        p->pos++;
        if (p->pos < p->len && (p->s[p->pos] == '+' || p->s[p->pos] == '-')) p->pos++;
        size_t d = p->pos;
        while (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9') p->pos++;
        if (p->pos == d) return perr(p, "bad number");
    }
    char tmp[64];
    size_t n = p->pos - b;
    if (n >= sizeof tmp) return perr(p, "number too long");
    memcpy(tmp, p->s + b, n);
    tmp[n] = '\0';
    *out = strtod(tmp, NULL);
    return COPE_OK;
}

static int match_lit(parser *p, const char *lit) {
    size_t n = strlen(lit);
    if (p->pos + n > p->len || memcmp(p->s + p->pos, lit, n) != 0) return 0;
    p->pos += n;
    return 1;
}

static cope_status parse_value(parser *p, int depth, int *out);

static cope_status parse_container(parser *p, int node, int depth, int is_obj) {
    char close = is_obj ? '}' : ']';
    p->pos++;
    skip_ws(p);
    int last = -1;
    if (p->pos < p->len && p->s[p->pos] == close) {
        p->pos++;
        return COPE_OK;
    }
    for (;;) {
        const char *key = NULL;
        size_t key_len = 0;
        cope_status st;
        if (is_obj) {
            skip_ws(p);
            if (p->pos >= p->len || p->s[p->pos] != '"') return perr(p, "expected object key");
            if ((st = parse_string(p, &key, &key_len))) return st;
            skip_ws(p);
            if (p->pos >= p->len || p->s[p->pos] != ':') return perr(p, "expected ':'");
            p->pos++;
        }
        int child;
        if ((st = parse_value(p, depth + 1, &child))) return st;
        p->doc->nodes[child].key = key;
        p->doc->nodes[child].key_len = key_len;
        if (last < 0)
            p->doc->nodes[node].first_child = child;
        else
            p->doc->nodes[last].next = child;
        last = child;
        p->doc->nodes[node].count++;
        skip_ws(p);
        if (p->pos >= p->len) return perr(p, is_obj ? "unterminated object" : "unterminated array");
        char c = p->s[p->pos++];
        if (c == close) return COPE_OK;
        if (c != ',') return perr(p, "expected ',' or closing bracket");
    }
}

static cope_status parse_value(parser *p, int depth, int *out) {
    if (depth > JSON_MAX_DEPTH) return perr(p, "nesting too deep");
    skip_ws(p);
    if (p->pos >= p->len) return perr(p, "unexpected end of input");
    char c = p->s[p->pos];
    json_type t;
    if (c == '{')
        t = JSON_OBJ;
    else if (c == '[')
        t = JSON_ARR;
    else if (c == '"')
        t = JSON_STR;
    else if (c == 't' || c == 'f')
        t = JSON_BOOL;
    else if (c == 'n')
        t = JSON_NULL;
    else if (c == '-' || (c >= '0' && c <= '9'))
        t = JSON_NUM;
    else
        return perr(p, "unexpected character");
    int i = new_node(p, t);
    if (i < 0) return perr(p, "too many values");
    p->doc->nodes[i].src_begin = p->pos;
    cope_status st = COPE_OK;
    switch (t) {
    case JSON_OBJ: st = parse_container(p, i, depth, 1); break;
    case JSON_ARR: st = parse_container(p, i, depth, 0); break;
    case JSON_STR: {
        const char *s;
        size_t n;
        st = parse_string(p, &s, &n);
        p->doc->nodes[i].str = s;
        p->doc->nodes[i].str_len = n;
        break;
    }
    case JSON_BOOL:
        if (match_lit(p, "true"))
            p->doc->nodes[i].boolean = 1;
        else if (match_lit(p, "false"))
            p->doc->nodes[i].boolean = 0;
        else
            st = perr(p, "bad literal");
        break;
    case JSON_NULL:
        if (!match_lit(p, "null")) st = perr(p, "bad literal");
        break;
    case JSON_NUM: {
        double v = 0.0;
        st = parse_number(p, &v);
        p->doc->nodes[i].num = v;
        break;
    }
    }
    p->doc->nodes[i].src_end = p->pos;
    *out = i;
    return st;
}

cope_status json_parse(json_doc *doc, const char *text, size_t len, cope_error *err) {
    memset(doc, 0, sizeof *doc);
    /* Every value takes at least one source byte, so len + 1 nodes always suffice. */
    size_t cap = len + 1;
    if (cap > (size_t)0x7fffffff / sizeof(json_node))
        return cope_fail(err, COPE_ERR_LIMIT, "JSON text too large (%zu bytes)", len);
    doc->nodes = malloc(cap * sizeof(json_node));
    doc->strings = malloc(len + 1);
    if (!doc->nodes || !doc->strings) {
        json_free(doc);
        return cope_fail(err, COPE_ERR_NOMEM, "out of memory parsing JSON (%zu bytes)", len);
    }
    parser p = {text, len, 0, doc, (int)cap, 0, err};
    int root;
    cope_status st = parse_value(&p, 0, &root);
    if (!st) {
        skip_ws(&p);
        if (p.pos != len) st = perr(&p, "trailing characters after JSON value");
    }
    if (st) json_free(doc);
    return st;
}

void json_free(json_doc *doc) {
    free(doc->nodes);
    free(doc->strings);
    memset(doc, 0, sizeof *doc);
}

int json_get(const json_doc *doc, int obj, const char *key) {
    if (obj < 0 || doc->nodes[obj].type != JSON_OBJ) return -1;
    size_t kl = strlen(key);
    for (int c = doc->nodes[obj].first_child; c >= 0; c = doc->nodes[c].next)
        if (doc->nodes[c].key_len == kl && memcmp(doc->nodes[c].key, key, kl) == 0) return c;
    return -1;
}

int json_int(const json_doc *doc, int node, long long lo, long long hi, long long *out) {
    if (node < 0 || doc->nodes[node].type != JSON_NUM) return 0;
    double v = doc->nodes[node].num;
    if (!(v >= (double)lo && v <= (double)hi)) return 0;
    long long i = (long long)v;
    if ((double)i != v) return 0;
    *out = i;
    return 1;
}

/* ---------------------------------------------------------------------------------------------
 * Buffer */
static int buf_reserve(cope_buf *b, size_t extra) {
    if (b->oom) return 0;
    if (b->len + extra + 1 <= b->cap) return 1;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra + 1) cap *= 2;
    char *d = realloc(b->data, cap);
    if (!d) {
        b->oom = 1;
        return 0;
    }
    b->data = d;
    b->cap = cap;
    return 1;
}

void buf_put(cope_buf *b, const void *p, size_t n) {
    if (!buf_reserve(b, n)) return;
    memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void buf_puts(cope_buf *b, const char *s) { buf_put(b, s, strlen(s)); }

void buf_printf(cope_buf *b, const char *fmt, ...) {
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->oom = 1;
        return;
    }
    if ((size_t)n < sizeof tmp) {
        buf_put(b, tmp, (size_t)n);
        return;
    }
    if (!buf_reserve(b, (size_t)n)) return;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void buf_json_string(cope_buf *b, const char *s, size_t n) {
    buf_put(b, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"')
            buf_put(b, "\\\"", 2);
        else if (c == '\\')
            buf_put(b, "\\\\", 2);
        else if (c == '\n')
            buf_put(b, "\\n", 2);
        else if (c == '\t')
            buf_put(b, "\\t", 2);
        else if (c == '\r')
            buf_put(b, "\\r", 2);
        else if (c < 0x20)
            buf_printf(b, "\\u%04x", c);
        else
            buf_put(b, &s[i], 1);
    }
    buf_put(b, "\"", 1);
}
