#include "proto/amf0.h"

#include <string.h>

#include "base/error.h"

typedef struct {
  const uint8_t *p;
  size_t len, off;
  vg_amf0_doc_t *doc;
} reader_t;

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t rd32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | p[2] << 8 | p[3];
}

static double rd_double(const uint8_t *p) {
  uint64_t u = 0;
  for (int i = 0; i < 8; i++)
    u = u << 8 | p[i];
  double d;
  memcpy(&d, &u, sizeof(d));
  return d;
}

static int need(reader_t *r, size_t n) { return r->len - r->off >= n ? 0 : VG_EPROTO; }

static int new_node(reader_t *r) {
  if (r->doc->count >= VG_AMF0_MAX_NODES) return VG_ETOOBIG;
  int i = r->doc->count++;
  vg_amf0_value_t *v = &r->doc->nodes[i];
  memset(v, 0, sizeof(*v));
  v->first_child = v->next_sibling = -1;
  return i;
}

/* A string of a 16-bit (short) or 32-bit (long) length at the cursor. */
static int read_str(reader_t *r, int long_len, const char **s, uint32_t *n) {
  size_t hdr = long_len ? 4 : 2;
  if (need(r, hdr)) return VG_EPROTO;
  uint32_t l = long_len ? rd32(r->p + r->off) : rd16(r->p + r->off);
  r->off += hdr;
  if (need(r, l)) return VG_EPROTO;
  *s = (const char *)r->p + r->off;
  *n = l;
  r->off += l;
  return 0;
}

static int read_value(reader_t *r, int depth, int *out);

/* Members of an object or ECMA array: key, value ... until the empty key
 * and the end marker. */
static int read_members(reader_t *r, int depth, int parent) {
  int last = -1;
  for (;;) {
    const char *key;
    uint32_t key_len;
    int e = read_str(r, 0, &key, &key_len);
    if (e) return e;
    if (key_len == 0) {
      if (need(r, 1)) return VG_EPROTO;
      if (r->p[r->off] == VG_AMF0_OBJECT_END) {
        r->off++;
        return 0;
      }
      /* An empty key with a value is legal AMF0, if rare. */
    }
    int child;
    e = read_value(r, depth + 1, &child);
    if (e) return e;
    vg_amf0_value_t *c = &r->doc->nodes[child];
    c->key = key;
    c->key_len = key_len;
    if (last < 0)
      r->doc->nodes[parent].first_child = child;
    else
      r->doc->nodes[last].next_sibling = child;
    last = child;
    r->doc->nodes[parent].count++;
  }
}

static int read_value(reader_t *r, int depth, int *out) {
  if (depth >= VG_AMF0_MAX_DEPTH) return VG_ETOOBIG;
  if (need(r, 1)) return VG_EPROTO;
  uint8_t type = r->p[r->off++];
  int i = new_node(r);
  if (i < 0) return i;
  *out = i;
  vg_amf0_value_t *v = &r->doc->nodes[i];
  v->type = (vg_amf0_type_t)type;
  switch (type) {
  case VG_AMF0_NUMBER:
    if (need(r, 8)) return VG_EPROTO;
    v->number = rd_double(r->p + r->off);
    r->off += 8;
    return 0;
  case VG_AMF0_BOOLEAN:
    if (need(r, 1)) return VG_EPROTO;
    v->boolean = r->p[r->off++] != 0;
    return 0;
  case VG_AMF0_STRING: return read_str(r, 0, &v->str, &v->str_len);
  case VG_AMF0_LONG_STRING: return read_str(r, 1, &v->str, &v->str_len);
  case VG_AMF0_NULL:
  case VG_AMF0_UNDEFINED: return 0;
  case VG_AMF0_DATE:
    if (need(r, 10)) return VG_EPROTO;
    v->number = rd_double(r->p + r->off);
    v->tz = (int16_t)rd16(r->p + r->off + 8);
    r->off += 10;
    return 0;
  case VG_AMF0_OBJECT: return read_members(r, depth, i);
  case VG_AMF0_ECMA_ARRAY:
    /* The count is only a hint (encoders get it wrong): the end marker ends it. */
    if (need(r, 4)) return VG_EPROTO;
    r->off += 4;
    return read_members(r, depth, i);
  case VG_AMF0_STRICT_ARRAY: {
    if (need(r, 4)) return VG_EPROTO;
    uint32_t n = rd32(r->p + r->off);
    r->off += 4;
    /* Every value takes at least one byte: a count beyond the input is a lie. */
    if (n > r->len - r->off) return VG_EPROTO;
    int last = -1;
    for (uint32_t k = 0; k < n; k++) {
      int child;
      int e = read_value(r, depth + 1, &child);
      if (e) return e;
      if (last < 0)
        r->doc->nodes[i].first_child = child;
      else
        r->doc->nodes[last].next_sibling = child;
      last = child;
      r->doc->nodes[i].count++;
    }
    return 0;
  }
  case VG_AMF0_OBJECT_END: return VG_EPROTO;
  default: return VG_EUNSUPPORTED;
  }
}

int vg_amf0_decode(const uint8_t *data, size_t len, vg_amf0_doc_t *doc) {
  reader_t r = {data, len, 0, doc};
  doc->count = 0;
  doc->top_count = 0;
  doc->first_top = -1;
  int last = -1;
  while (r.off < len) {
    int i;
    int e = read_value(&r, 0, &i);
    if (e) return e;
    if (last < 0)
      doc->first_top = i;
    else
      doc->nodes[last].next_sibling = i;
    last = i;
    doc->top_count++;
  }
  return doc->top_count;
}

static const vg_amf0_value_t *nth(const vg_amf0_doc_t *doc, int at, int i) {
  for (; at >= 0 && i > 0; i--)
    at = doc->nodes[at].next_sibling;
  return at >= 0 ? &doc->nodes[at] : NULL;
}

const vg_amf0_value_t *vg_amf0_top(const vg_amf0_doc_t *doc, int i) {
  return i < 0 ? NULL : nth(doc, doc->first_top, i);
}

const vg_amf0_value_t *vg_amf0_child(const vg_amf0_doc_t *doc, const vg_amf0_value_t *v, int i) {
  return v && i >= 0 ? nth(doc, v->first_child, i) : NULL;
}

const vg_amf0_value_t *vg_amf0_get(const vg_amf0_doc_t *doc, const vg_amf0_value_t *obj, const char *key) {
  if (!obj || (obj->type != VG_AMF0_OBJECT && obj->type != VG_AMF0_ECMA_ARRAY)) return NULL;
  size_t kl = strlen(key);
  for (int at = obj->first_child; at >= 0; at = doc->nodes[at].next_sibling) {
    const vg_amf0_value_t *c = &doc->nodes[at];
    if (c->key_len == kl && memcmp(c->key, key, kl) == 0) return c;
  }
  return NULL;
}

int vg_amf0_str(const vg_amf0_value_t *v, char *out, size_t size) {
  if (size) out[0] = 0;
  if (!v || (v->type != VG_AMF0_STRING && v->type != VG_AMF0_LONG_STRING)) return VG_EINVAL;
  if (v->str_len >= size) return VG_ETOOBIG;
  memcpy(out, v->str, v->str_len);
  out[v->str_len] = 0;
  return (int)v->str_len;
}

int vg_amf0_str_eq(const vg_amf0_value_t *v, const char *s) {
  if (!v || (v->type != VG_AMF0_STRING && v->type != VG_AMF0_LONG_STRING)) return 0;
  size_t n = strlen(s);
  return v->str_len == n && memcmp(v->str, s, n) == 0;
}

double vg_amf0_num(const vg_amf0_value_t *v, double dflt) {
  return v && v->type == VG_AMF0_NUMBER ? v->number : dflt;
}

/* ---- encoding ---- */

void vg_amf0_writer_init(vg_amf0_writer_t *w, uint8_t *data, size_t cap) {
  w->data = data;
  w->cap = cap;
  w->len = 0;
  w->err = 0;
}

static uint8_t *room(vg_amf0_writer_t *w, size_t n) {
  if (w->err) return NULL;
  if (w->cap - w->len < n) {
    w->err = VG_ETOOBIG;
    return NULL;
  }
  uint8_t *p = w->data + w->len;
  w->len += n;
  return p;
}

static void put_u8(vg_amf0_writer_t *w, uint8_t v) {
  uint8_t *p = room(w, 1);
  if (p) p[0] = v;
}

static void put_be(vg_amf0_writer_t *w, uint64_t v, int bytes) {
  uint8_t *p = room(w, (size_t)bytes);
  if (!p) return;
  for (int i = bytes - 1; i >= 0; i--, v >>= 8)
    p[i] = (uint8_t)v;
}

static void put_double(vg_amf0_writer_t *w, double d) {
  uint64_t u;
  memcpy(&u, &d, sizeof(u));
  put_be(w, u, 8);
}

void vg_amf0_put_number(vg_amf0_writer_t *w, double v) {
  put_u8(w, VG_AMF0_NUMBER);
  put_double(w, v);
}

void vg_amf0_put_bool(vg_amf0_writer_t *w, int v) {
  put_u8(w, VG_AMF0_BOOLEAN);
  put_u8(w, v ? 1 : 0);
}

static void put_raw_str(vg_amf0_writer_t *w, const char *s, size_t len, int long_len) {
  put_be(w, len, long_len ? 4 : 2);
  uint8_t *p = room(w, len);
  if (p && len) memcpy(p, s, len);
}

void vg_amf0_put_string_n(vg_amf0_writer_t *w, const char *s, size_t len) {
  if (len > UINT32_MAX) {
    w->err = w->err ? w->err : VG_ETOOBIG;
    return;
  }
  int long_len = len > 0xffff;
  put_u8(w, long_len ? VG_AMF0_LONG_STRING : VG_AMF0_STRING);
  put_raw_str(w, s, len, long_len);
}

void vg_amf0_put_string(vg_amf0_writer_t *w, const char *s) { vg_amf0_put_string_n(w, s, strlen(s)); }
void vg_amf0_put_null(vg_amf0_writer_t *w) { put_u8(w, VG_AMF0_NULL); }
void vg_amf0_put_undefined(vg_amf0_writer_t *w) { put_u8(w, VG_AMF0_UNDEFINED); }

void vg_amf0_put_date(vg_amf0_writer_t *w, double ms, int16_t tz) {
  put_u8(w, VG_AMF0_DATE);
  put_double(w, ms);
  put_be(w, (uint16_t)tz, 2);
}

void vg_amf0_put_object_begin(vg_amf0_writer_t *w) { put_u8(w, VG_AMF0_OBJECT); }

void vg_amf0_put_ecma_begin(vg_amf0_writer_t *w, uint32_t count_hint) {
  put_u8(w, VG_AMF0_ECMA_ARRAY);
  put_be(w, count_hint, 4);
}

void vg_amf0_put_key(vg_amf0_writer_t *w, const char *key) {
  size_t n = strlen(key);
  if (n > 0xffff) {
    w->err = w->err ? w->err : VG_ETOOBIG;
    return;
  }
  put_raw_str(w, key, n, 0);
}

void vg_amf0_put_object_end(vg_amf0_writer_t *w) {
  put_be(w, 0, 2);
  put_u8(w, VG_AMF0_OBJECT_END);
}

void vg_amf0_put_strict_array_begin(vg_amf0_writer_t *w, uint32_t count) {
  put_u8(w, VG_AMF0_STRICT_ARRAY);
  put_be(w, count, 4);
}

void vg_amf0_put_prop_string(vg_amf0_writer_t *w, const char *key, const char *v) {
  vg_amf0_put_key(w, key);
  vg_amf0_put_string(w, v);
}

void vg_amf0_put_prop_number(vg_amf0_writer_t *w, const char *key, double v) {
  vg_amf0_put_key(w, key);
  vg_amf0_put_number(w, v);
}

void vg_amf0_put_prop_bool(vg_amf0_writer_t *w, const char *key, int v) {
  vg_amf0_put_key(w, key);
  vg_amf0_put_bool(w, v);
}
