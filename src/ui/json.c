/* Minimal JSON (see json.h). */
#include "json.h"

#include <stdio.h>
#include <string.h>

size_t json_ws(const char *s, size_t len, size_t pos)
{
    while (pos < len && (s[pos] == ' ' || s[pos] == '\t' || s[pos] == '\n' || s[pos] == '\r'))
        pos++;
    return pos;
}

static long skip_string(const char *s, size_t len, size_t pos)
{
    /* s[pos] == '"' */
    for (pos++; pos < len; pos++) {
        unsigned char c = (unsigned char)s[pos];
        if (c == '"')
            return (long)pos + 1;
        if (c < 0x20)
            return -1;
        if (c == '\\') {
            if (++pos >= len)
                return -1;
            if (s[pos] == 'u') {
                for (int i = 1; i <= 4; i++)
                    if (pos + (size_t)i >= len ||
                        !strchr("0123456789abcdefABCDEF", s[pos + (size_t)i]) ||
                        !s[pos + (size_t)i])
                        return -1;
                pos += 4;
            } else if (!strchr("\"\\/bfnrt", s[pos]) || !s[pos]) {
                return -1;
            }
        }
    }
    return -1;
}

static long skip_number(const char *s, size_t len, size_t pos)
{
    size_t p = pos;
    if (p < len && s[p] == '-')
        p++;
    size_t digits = p;
    while (p < len && s[p] >= '0' && s[p] <= '9')
        p++;
    if (p == digits)
        return -1;
    if (p < len && s[p] == '.') {
        size_t f = ++p;
        while (p < len && s[p] >= '0' && s[p] <= '9')
            p++;
        if (p == f)
            return -1;
    }
    if (p < len && (s[p] == 'e' || s[p] == 'E')) {
        p++;
        if (p < len && (s[p] == '+' || s[p] == '-'))
            p++;
        size_t e = p;
        while (p < len && s[p] >= '0' && s[p] <= '9')
            p++;
        if (p == e)
            return -1;
    }
    return (long)p;
}

static long skip_value(const char *s, size_t len, size_t pos, int depth)
{
    pos = json_ws(s, len, pos);
    if (pos >= len || depth > 32)
        return -1;
    char c = s[pos];
    if (c == '"')
        return skip_string(s, len, pos);
    if (c == '{' || c == '[') {
        char close = c == '{' ? '}' : ']';
        pos = json_ws(s, len, pos + 1);
        if (pos < len && s[pos] == close)
            return (long)pos + 1;
        for (;;) {
            if (c == '{') {
                pos = json_ws(s, len, pos);
                if (pos >= len || s[pos] != '"')
                    return -1;
                long k = skip_string(s, len, pos);
                if (k < 0)
                    return -1;
                pos = json_ws(s, len, (size_t)k);
                if (pos >= len || s[pos] != ':')
                    return -1;
                pos++;
            }
            long v = skip_value(s, len, pos, depth + 1);
            if (v < 0)
                return -1;
            pos = json_ws(s, len, (size_t)v);
            if (pos >= len)
                return -1;
            if (s[pos] == close)
                return (long)pos + 1;
            if (s[pos] != ',')
                return -1;
            pos++;
        }
    }
    static const char *const words[] = {"true", "false", "null"};
    for (int i = 0; i < 3; i++) {
        size_t n = strlen(words[i]);
        if (len - pos >= n && !memcmp(s + pos, words[i], n))
            return (long)(pos + n);
    }
    return skip_number(s, len, pos);
}

long json_skip_value(const char *s, size_t len, size_t pos)
{
    return skip_value(s, len, pos, 0);
}

bool json_member(const char *s, size_t os, size_t oe, const char *key, size_t *vs, size_t *ve)
{
    size_t pos = json_ws(s, oe, os);
    if (pos >= oe || s[pos] != '{')
        return false;
    pos++;
    for (;;) {
        pos = json_ws(s, oe, pos);
        if (pos >= oe || s[pos] != '"')
            return false;
        long k = skip_string(s, oe, pos);
        if (k < 0)
            return false;
        char name[64];
        bool match = json_string(s, pos, (size_t)k, name, sizeof(name)) && !strcmp(name, key);
        pos = json_ws(s, oe, (size_t)k);
        if (pos >= oe || s[pos] != ':')
            return false;
        size_t start = json_ws(s, oe, pos + 1);
        long v = json_skip_value(s, oe, start);
        if (v < 0)
            return false;
        if (match) {
            *vs = start;
            *ve = (size_t)v;
            return true;
        }
        pos = json_ws(s, oe, (size_t)v);
        if (pos >= oe || s[pos] != ',')
            return false;
        pos++;
    }
}

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c - 'A' + 10;
}

bool json_string(const char *s, size_t vs, size_t ve, char *out, size_t outlen)
{
    if (ve - vs < 2 || s[vs] != '"' || s[ve - 1] != '"' || outlen == 0)
        return false;
    size_t o = 0;
    for (size_t p = vs + 1; p < ve - 1; p++) {
        char c = s[p];
        if (c == '\\') {
            c = s[++p];
            switch (c) {
            case 'b':
                c = '\b';
                break;
            case 'f':
                c = '\f';
                break;
            case 'n':
                c = '\n';
                break;
            case 'r':
                c = '\r';
                break;
            case 't':
                c = '\t';
                break;
            case 'u': {
                int v = 0;
                for (int i = 1; i <= 4; i++)
                    v = v * 16 + hexval(s[p + (size_t)i]);
                p += 4;
                c = (v > 0 && v < 0x80) ? (char)v : '?';
                break;
            }
            default:
                break; /* " \ / */
            }
        }
        if (o + 1 >= outlen)
            return false;
        out[o++] = c;
    }
    out[o] = 0;
    return true;
}

size_t json_quote(const char *text, char *out, size_t outlen)
{
    size_t n = 0;
#define PUT(ch)                                                                                    \
    do {                                                                                           \
        if (n + 1 < outlen)                                                                        \
            out[n] = (ch);                                                                         \
        n++;                                                                                       \
    } while (0)
    PUT('"');
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        if (*p == '"' || *p == '\\') {
            PUT('\\');
            PUT((char)*p);
        } else if (*p == '\n') {
            PUT('\\');
            PUT('n');
        } else if (*p < 0x20 || *p >= 0x7f) {
            char u[8];
            snprintf(u, sizeof(u), "\\u%04x", *p);
            for (int i = 0; u[i]; i++)
                PUT(u[i]);
        } else {
            PUT((char)*p);
        }
    }
    PUT('"');
    if (outlen)
        out[n < outlen ? n : outlen - 1] = 0;
#undef PUT
    return n;
}
