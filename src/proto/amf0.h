/*
 * amf0.h: Action Message Format 0, the encoding of RTMP's command and data
 * messages (connect, publish, onStatus, onMetaData ...).
 *
 * Decoding: vg_amf0_decode() reads a run of values into a caller-owned
 * document with a fixed number of nodes and a bounded nesting depth, so
 * hostile input costs at most that much and ends in an error, never a
 * crash. Strings and keys point into the input bytes (not NUL-terminated):
 * the input must outlive the document. Supported types: number, boolean,
 * string, object, null, undefined, ECMA array, strict array, date, long
 * string. Others (references, typed objects, AMF3 switch) are
 * VG_EUNSUPPORTED.
 *
 * Encoding: a bounded writer over caller memory with a sticky error
 * (VG_ETOOBIG once the buffer is full).
 *
 * Pure functions over caller memory: any thread.
 */
#ifndef VG_PROTO_AMF0_H
#define VG_PROTO_AMF0_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
  VG_AMF0_NUMBER = 0x00,
  VG_AMF0_BOOLEAN = 0x01,
  VG_AMF0_STRING = 0x02,
  VG_AMF0_OBJECT = 0x03,
  VG_AMF0_NULL = 0x05,
  VG_AMF0_UNDEFINED = 0x06,
  VG_AMF0_ECMA_ARRAY = 0x08,
  VG_AMF0_OBJECT_END = 0x09,
  VG_AMF0_STRICT_ARRAY = 0x0a,
  VG_AMF0_DATE = 0x0b,
  VG_AMF0_LONG_STRING = 0x0c,
} vg_amf0_type_t;

#define VG_AMF0_MAX_NODES 512
#define VG_AMF0_MAX_DEPTH 16

typedef struct {
  vg_amf0_type_t type;
  double number;   /* number; date: milliseconds since the epoch */
  int boolean;     /* boolean */
  int16_t tz;      /* date: the (ignored) time-zone field */
  const char *str; /* string, long string: points into the input */
  uint32_t str_len;
  const char *key; /* a member of an object or ECMA array: its name; else NULL */
  uint32_t key_len;
  uint32_t count;   /* object, ECMA array, strict array: members decoded */
  int first_child;  /* node index, -1 if none */
  int next_sibling; /* node index, -1 if none */
} vg_amf0_value_t;

typedef struct {
  vg_amf0_value_t nodes[VG_AMF0_MAX_NODES];
  int count;     /* nodes used */
  int top_count; /* top-level values */
  int first_top; /* node index of the first top-level value, -1 if none */
} vg_amf0_doc_t;

/* Decodes every value in data[0..len) into doc. Returns the number of
 * top-level values, VG_EPROTO on malformed or truncated input, VG_ETOOBIG
 * past VG_AMF0_MAX_NODES or VG_AMF0_MAX_DEPTH, VG_EUNSUPPORTED for a type
 * not listed above. */
int vg_amf0_decode(const uint8_t *data, size_t len, vg_amf0_doc_t *doc);

/* The i-th top-level value, or NULL. */
const vg_amf0_value_t *vg_amf0_top(const vg_amf0_doc_t *doc, int i);
/* The i-th member of an object or array, or NULL. */
const vg_amf0_value_t *vg_amf0_child(const vg_amf0_doc_t *doc, const vg_amf0_value_t *v, int i);
/* The member named key of an object or ECMA array, or NULL. */
const vg_amf0_value_t *vg_amf0_get(const vg_amf0_doc_t *doc, const vg_amf0_value_t *obj, const char *key);
/* Copies a string value (string or long string) into out, NUL-terminated.
 * Returns its length, VG_EINVAL if v is NULL or not a string, VG_ETOOBIG if
 * it does not fit. */
int vg_amf0_str(const vg_amf0_value_t *v, char *out, size_t size);
/* Whether v is a string equal to s. */
int vg_amf0_str_eq(const vg_amf0_value_t *v, const char *s);
/* The number value of v, or dflt if v is NULL or not a number. */
double vg_amf0_num(const vg_amf0_value_t *v, double dflt);

/* ---- encoding ---- */

typedef struct {
  uint8_t *data;
  size_t cap, len;
  int err; /* 0, or the first error (VG_ETOOBIG) */
} vg_amf0_writer_t;

void vg_amf0_writer_init(vg_amf0_writer_t *w, uint8_t *data, size_t cap);
void vg_amf0_put_number(vg_amf0_writer_t *w, double v);
void vg_amf0_put_bool(vg_amf0_writer_t *w, int v);
/* A string; longer than 65535 bytes it becomes a long string. */
void vg_amf0_put_string(vg_amf0_writer_t *w, const char *s);
void vg_amf0_put_string_n(vg_amf0_writer_t *w, const char *s, size_t len);
void vg_amf0_put_null(vg_amf0_writer_t *w);
void vg_amf0_put_undefined(vg_amf0_writer_t *w);
void vg_amf0_put_date(vg_amf0_writer_t *w, double ms, int16_t tz);
/* Objects and ECMA arrays: begin, then key + value pairs, then end. */
void vg_amf0_put_object_begin(vg_amf0_writer_t *w);
void vg_amf0_put_ecma_begin(vg_amf0_writer_t *w, uint32_t count_hint);
void vg_amf0_put_key(vg_amf0_writer_t *w, const char *key);
void vg_amf0_put_object_end(vg_amf0_writer_t *w);
/* A strict array of count values: the values follow. */
void vg_amf0_put_strict_array_begin(vg_amf0_writer_t *w, uint32_t count);
/* Shorthands for object members. */
void vg_amf0_put_prop_string(vg_amf0_writer_t *w, const char *key, const char *v);
void vg_amf0_put_prop_number(vg_amf0_writer_t *w, const char *key, double v);
void vg_amf0_put_prop_bool(vg_amf0_writer_t *w, const char *key, int v);

#endif
