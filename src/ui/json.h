/* The little JSON that QMP needs (RFC 8259): validating a value, finding an
 * object's member, decoding a string, and escaping text for replies.
 * Spans are byte offsets into the message; nothing is allocated. */
#ifndef NVMX_UI_JSON_H
#define NVMX_UI_JSON_H

#include <stdbool.h>
#include <stddef.h>

/* Skips whitespace and one value starting at pos; returns the offset after
 * it, or -1 if the text is not valid JSON (depth is limited to 32). */
long json_skip_value(const char *s, size_t len, size_t pos);
/* Offset of the first non-whitespace byte at or after pos. */
size_t json_ws(const char *s, size_t len, size_t pos);
/* The value span [*vs, *ve) of member `key` of the object at [os, oe);
 * false when absent or when [os, oe) is not an object. */
bool json_member(const char *s, size_t os, size_t oe, const char *key, size_t *vs, size_t *ve);
/* Decodes the string at [vs, ve) into out (NUL-terminated; \u escapes
 * outside ASCII become '?'). false when it is not a string or too long. */
bool json_string(const char *s, size_t vs, size_t ve, char *out, size_t outlen);
/* Writes text as a JSON string literal (with quotes) into out; returns the
 * length it needs (like snprintf). */
size_t json_quote(const char *text, char *out, size_t outlen);

#endif
