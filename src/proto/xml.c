#include "proto/xml.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/strbuf.h"

/* ---- arena ---- */

typedef struct chunk {
  struct chunk *next;
  size_t used, cap;
  max_align_t data[];
} chunk_t;

struct vg_xml_doc {
  chunk_t *chunks;
  vg_xml_node_t *root;
  int nodes;
};

static void *arena_alloc(vg_xml_doc_t *doc, size_t n) {
  n = (n + sizeof(max_align_t) - 1) / sizeof(max_align_t) * sizeof(max_align_t);
  chunk_t *c = doc->chunks;
  if (!c || c->cap - c->used < n) {
    size_t cap = n > 65536 ? n : 65536;
    c = malloc(sizeof(*c) + cap);
    if (!c) return NULL;
    c->next = doc->chunks;
    c->used = 0;
    c->cap = cap;
    doc->chunks = c;
  }
  void *p = (char *)c->data + c->used;
  c->used += n;
  return p;
}

static char *arena_strndup(vg_xml_doc_t *doc, const char *s, size_t n) {
  char *p = arena_alloc(doc, n + 1);
  if (!p) return NULL;
  memcpy(p, s, n);
  p[n] = '\0';
  return p;
}

void vg_xml_free(vg_xml_doc_t **docp) {
  vg_xml_doc_t *doc = *docp;
  if (!doc) return;
  *docp = NULL;
  for (chunk_t *c = doc->chunks, *next; c; c = next) {
    next = c->next;
    free(c);
  }
  free(doc);
}

const vg_xml_node_t *vg_xml_root(const vg_xml_doc_t *doc) { return doc->root; }

/* ---- parser ---- */

typedef struct {
  const char *p, *end;
  vg_xml_doc_t *doc;
  vg_strbuf_t text[VG_XML_MAX_DEPTH]; /* pending character data of each open element */
} parser_t;

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

static int is_name_char(unsigned char c) {
  return c == '_' || c == ':' || c == '-' || c == '.' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || c >= 0x80;
}

static void skip_space(parser_t *ps) {
  while (ps->p < ps->end && is_space(*ps->p))
    ps->p++;
}

static int starts(const parser_t *ps, const char *s) {
  size_t n = strlen(s);
  return (size_t)(ps->end - ps->p) >= n && memcmp(ps->p, s, n) == 0;
}

/* Moves past the next occurrence of term; VG_EPROTO if there is none. */
static int skip_past(parser_t *ps, const char *term) {
  size_t n = strlen(term);
  for (const char *q = ps->p; (size_t)(ps->end - q) >= n; q++) {
    if (memcmp(q, term, n) == 0) {
      ps->p = q + n;
      return 0;
    }
  }
  return VG_EPROTO;
}

static void put_utf8(vg_strbuf_t *out, uint32_t cp) {
  char b[4];
  size_t n;
  if (cp < 0x80) {
    b[0] = (char)cp;
    n = 1;
  } else if (cp < 0x800) {
    b[0] = (char)(0xc0 | cp >> 6);
    b[1] = (char)(0x80 | (cp & 0x3f));
    n = 2;
  } else if (cp < 0x10000) {
    b[0] = (char)(0xe0 | cp >> 12);
    b[1] = (char)(0x80 | (cp >> 6 & 0x3f));
    b[2] = (char)(0x80 | (cp & 0x3f));
    n = 3;
  } else {
    b[0] = (char)(0xf0 | cp >> 18);
    b[1] = (char)(0x80 | (cp >> 12 & 0x3f));
    b[2] = (char)(0x80 | (cp >> 6 & 0x3f));
    b[3] = (char)(0x80 | (cp & 0x3f));
    n = 4;
  }
  vg_strbuf_append(out, b, n);
}

/* Decodes s[0..n) (character data or an attribute value) onto out. */
static int decode_text(const char *s, size_t n, vg_strbuf_t *out) {
  const char *end = s + n;
  while (s < end) {
    const char *amp = memchr(s, '&', (size_t)(end - s));
    if (!amp) {
      vg_strbuf_append(out, s, (size_t)(end - s));
      break;
    }
    vg_strbuf_append(out, s, (size_t)(amp - s));
    const char *semi = memchr(amp, ';', (size_t)(end - amp));
    if (!semi || semi - amp > 12) return VG_EPROTO;
    size_t len = (size_t)(semi - amp - 1);
    const char *ent = amp + 1;
    if (len == 2 && !memcmp(ent, "lt", 2))
      vg_strbuf_append(out, "<", 1);
    else if (len == 2 && !memcmp(ent, "gt", 2))
      vg_strbuf_append(out, ">", 1);
    else if (len == 3 && !memcmp(ent, "amp", 3))
      vg_strbuf_append(out, "&", 1);
    else if (len == 4 && !memcmp(ent, "quot", 4))
      vg_strbuf_append(out, "\"", 1);
    else if (len == 4 && !memcmp(ent, "apos", 4))
      vg_strbuf_append(out, "'", 1);
    else if (len >= 2 && ent[0] == '#') {
      uint32_t cp = 0;
      int hex = ent[1] == 'x';
      size_t i = hex ? 2 : 1;
      if (i >= len) return VG_EPROTO;
      for (; i < len; i++) {
        char c = ent[i];
        int d = c >= '0' && c <= '9'          ? c - '0'
                : hex && c >= 'a' && c <= 'f' ? c - 'a' + 10
                : hex && c >= 'A' && c <= 'F' ? c - 'A' + 10
                                              : -1;
        if (d < 0) return VG_EPROTO;
        cp = cp * (hex ? 16 : 10) + (uint32_t)d;
        if (cp > 0x10ffff) return VG_EPROTO;
      }
      if (cp == 0 || (cp >= 0xd800 && cp <= 0xdfff)) return VG_EPROTO;
      put_utf8(out, cp);
    } else {
      return VG_EPROTO; /* no DTD, so no other entities */
    }
    s = semi + 1;
  }
  return out->error;
}

/* Reads a qualified name into prefix and local name (arena strings). */
static int read_qname(parser_t *ps, const char **prefix, const char **name) {
  const char *start = ps->p;
  while (ps->p < ps->end && is_name_char((unsigned char)*ps->p))
    ps->p++;
  size_t n = (size_t)(ps->p - start);
  if (n == 0 || *start == ':' || start[n - 1] == ':') return VG_EPROTO;
  const char *colon = memchr(start, ':', n);
  if (colon && memchr(colon + 1, ':', (size_t)(start + n - colon - 1))) return VG_EPROTO;
  *prefix = arena_strndup(ps->doc, start, colon ? (size_t)(colon - start) : 0);
  *name = colon ? arena_strndup(ps->doc, colon + 1, (size_t)(start + n - colon - 1))
                : arena_strndup(ps->doc, start, n);
  return *prefix && *name ? 0 : VG_ENOMEM;
}

static int parse_attrs(parser_t *ps, vg_xml_node_t *node) {
  vg_xml_attr_t attrs[VG_XML_MAX_ATTRS];
  int count = 0;
  vg_strbuf_t value;
  vg_strbuf_init(&value, VG_XML_MAX_INPUT);
  int err = 0;
  for (;;) {
    const char *before = ps->p;
    skip_space(ps);
    if (ps->p >= ps->end) {
      err = VG_EPROTO;
      break;
    }
    if (*ps->p == '>' || *ps->p == '/') break;
    if (ps->p == before) { /* attributes are separated by white space */
      err = VG_EPROTO;
      break;
    }
    if (count == VG_XML_MAX_ATTRS) {
      err = VG_ETOOBIG;
      break;
    }
    vg_xml_attr_t *a = &attrs[count];
    if ((err = read_qname(ps, &a->prefix, &a->name)) != 0) break;
    skip_space(ps);
    if (ps->p >= ps->end || *ps->p != '=') {
      err = VG_EPROTO;
      break;
    }
    ps->p++;
    skip_space(ps);
    if (ps->p >= ps->end || (*ps->p != '"' && *ps->p != '\'')) {
      err = VG_EPROTO;
      break;
    }
    char quote = *ps->p++;
    const char *v = ps->p;
    while (ps->p < ps->end && *ps->p != quote && *ps->p != '<')
      ps->p++;
    if (ps->p >= ps->end || *ps->p != quote) {
      err = VG_EPROTO;
      break;
    }
    vg_strbuf_free(&value);
    vg_strbuf_init(&value, VG_XML_MAX_INPUT);
    if ((err = decode_text(v, (size_t)(ps->p - v), &value)) != 0) break;
    ps->p++;
    a->value = arena_strndup(ps->doc, value.data ? value.data : "", value.len);
    if (!a->value) {
      err = VG_ENOMEM;
      break;
    }
    count++;
  }
  vg_strbuf_free(&value);
  if (err) return err;
  if (count) {
    node->attrs = arena_alloc(ps->doc, sizeof(vg_xml_attr_t) * (size_t)count);
    if (!node->attrs) return VG_ENOMEM;
    memcpy(node->attrs, attrs, sizeof(vg_xml_attr_t) * (size_t)count);
    node->attr_count = count;
  }
  return 0;
}

/* Gives an element its collected text and resets the level's buffer. */
static int finish_text(parser_t *ps, vg_xml_node_t *node, int depth) {
  vg_strbuf_t *t = &ps->text[depth];
  node->text = arena_strndup(ps->doc, t->data ? t->data : "", t->len);
  vg_strbuf_free(t);
  vg_strbuf_init(t, VG_XML_MAX_INPUT);
  return node->text ? 0 : VG_ENOMEM;
}

static int same_qname(const vg_xml_node_t *n, const char *prefix, const char *name) {
  return strcmp(n->prefix, prefix) == 0 && strcmp(n->name, name) == 0;
}

static int parse_document(parser_t *ps) {
  vg_xml_node_t *cur = NULL, *last_child[VG_XML_MAX_DEPTH] = {0};
  int depth = -1; /* depth of cur */
  if (starts(ps, "\xef\xbb\xbf")) ps->p += 3;
  while (ps->p < ps->end) {
    if (*ps->p != '<') {
      const char *start = ps->p;
      const char *lt = memchr(ps->p, '<', (size_t)(ps->end - ps->p));
      ps->p = lt ? lt : ps->end;
      if (!cur) { /* outside the root element only white space may appear */
        for (const char *q = start; q < ps->p; q++)
          if (!is_space(*q)) return VG_EPROTO;
        continue;
      }
      int err = decode_text(start, (size_t)(ps->p - start), &ps->text[depth]);
      if (err) return err;
      continue;
    }
    if (starts(ps, "<?")) {
      if (skip_past(ps, "?>")) return VG_EPROTO;
    } else if (starts(ps, "<!--")) {
      if (skip_past(ps, "-->")) return VG_EPROTO;
    } else if (starts(ps, "<![CDATA[")) {
      if (!cur) return VG_EPROTO;
      ps->p += 9;
      const char *start = ps->p;
      if (skip_past(ps, "]]>")) return VG_EPROTO;
      vg_strbuf_append(&ps->text[depth], start, (size_t)(ps->p - 3 - start));
    } else if (starts(ps, "<!")) {
      return VG_EPROTO; /* DOCTYPE and friends: refused */
    } else if (starts(ps, "</")) {
      if (!cur) return VG_EPROTO;
      ps->p += 2;
      const char *prefix, *name;
      int err = read_qname(ps, &prefix, &name);
      if (err) return err;
      skip_space(ps);
      if (ps->p >= ps->end || *ps->p != '>' || !same_qname(cur, prefix, name)) return VG_EPROTO;
      ps->p++;
      if ((err = finish_text(ps, cur, depth)) != 0) return err;
      cur = cur->parent;
      depth--;
    } else {
      ps->p++;
      if (!cur && ps->doc->root) return VG_EPROTO; /* a second root */
      if (depth + 1 >= VG_XML_MAX_DEPTH || ps->doc->nodes >= VG_XML_MAX_NODES) return VG_ETOOBIG;
      vg_xml_node_t *node = arena_alloc(ps->doc, sizeof(*node));
      if (!node) return VG_ENOMEM;
      memset(node, 0, sizeof(*node));
      node->text = "";
      ps->doc->nodes++;
      int err = read_qname(ps, &node->prefix, &node->name);
      if (!err) err = parse_attrs(ps, node);
      if (err) return err;
      node->parent = cur;
      if (!cur) {
        ps->doc->root = node;
      } else {
        if (last_child[depth])
          last_child[depth]->next = node;
        else
          cur->first_child = node;
        last_child[depth] = node;
      }
      if (*ps->p == '/') {
        ps->p++;
        if (ps->p >= ps->end || *ps->p != '>') return VG_EPROTO;
        ps->p++;
        continue; /* empty element: its text stays "" */
      }
      ps->p++; /* '>' */
      cur = node;
      depth++;
      last_child[depth] = NULL;
    }
  }
  return ps->doc->root && !cur ? 0 : VG_EPROTO;
}

int vg_xml_parse(const char *data, size_t len, vg_xml_doc_t **out) {
  *out = NULL;
  if (len > VG_XML_MAX_INPUT) return VG_ETOOBIG;
  parser_t *ps = calloc(1, sizeof(*ps));
  vg_xml_doc_t *doc = calloc(1, sizeof(*doc));
  if (!ps || !doc) {
    free(ps);
    free(doc);
    return VG_ENOMEM;
  }
  ps->p = data;
  ps->end = data + len;
  ps->doc = doc;
  for (int i = 0; i < VG_XML_MAX_DEPTH; i++)
    vg_strbuf_init(&ps->text[i], VG_XML_MAX_INPUT);
  int err = parse_document(ps);
  for (int i = 0; i < VG_XML_MAX_DEPTH; i++) {
    if (!err && ps->text[i].error) err = ps->text[i].error;
    vg_strbuf_free(&ps->text[i]);
  }
  free(ps);
  if (err) {
    vg_xml_free(&doc);
    return err;
  }
  *out = doc;
  return 0;
}

/* ---- lookups ---- */

const vg_xml_node_t *vg_xml_child(const vg_xml_node_t *node, const char *name) {
  for (const vg_xml_node_t *c = node ? node->first_child : NULL; c; c = c->next)
    if (strcmp(c->name, name) == 0) return c;
  return NULL;
}

const vg_xml_node_t *vg_xml_next_same(const vg_xml_node_t *node) {
  for (const vg_xml_node_t *c = node ? node->next : NULL; c; c = c->next)
    if (strcmp(c->name, node->name) == 0) return c;
  return NULL;
}

const vg_xml_node_t *vg_xml_path(const vg_xml_node_t *node, const char *path) {
  char step[128];
  while (node && *path) {
    const char *slash = strchr(path, '/');
    size_t n = slash ? (size_t)(slash - path) : strlen(path);
    if (n == 0 || n >= sizeof(step)) return NULL;
    memcpy(step, path, n);
    step[n] = '\0';
    node = vg_xml_child(node, step);
    path += n + (slash ? 1 : 0);
  }
  return node;
}

const vg_xml_node_t *vg_xml_find(const vg_xml_node_t *node, const char *name) {
  /* Iterative pre-order walk: depth is bounded by the parser anyway, but
   * this keeps the stack flat. */
  const vg_xml_node_t *top = node;
  while (node) {
    if (strcmp(node->name, name) == 0) return node;
    if (node->first_child) {
      node = node->first_child;
      continue;
    }
    while (node && node != top && !node->next)
      node = node->parent;
    if (!node || node == top) return NULL;
    node = node->next;
  }
  return NULL;
}

int vg_xml_text(const vg_xml_node_t *node, const char *path, char *out, size_t size) {
  if (size == 0) return VG_ETOOBIG;
  out[0] = '\0';
  const vg_xml_node_t *n = *path ? vg_xml_path(node, path) : node;
  if (!n) return 0;
  const char *s = n->text, *e = s + strlen(s);
  while (s < e && is_space(*s))
    s++;
  while (e > s && is_space(e[-1]))
    e--;
  size_t len = (size_t)(e - s);
  if (len >= size) return VG_ETOOBIG;
  memcpy(out, s, len);
  out[len] = '\0';
  return (int)len;
}

const char *vg_xml_attr(const vg_xml_node_t *node, const char *name) {
  for (int i = 0; node && i < node->attr_count; i++)
    if (strcmp(node->attrs[i].name, name) == 0) return node->attrs[i].value;
  return NULL;
}

const char *vg_xml_namespace(const vg_xml_node_t *node, const char *prefix) {
  for (; node; node = node->parent) {
    for (int i = 0; i < node->attr_count; i++) {
      const vg_xml_attr_t *a = &node->attrs[i];
      if (*prefix ? strcmp(a->prefix, "xmlns") == 0 && strcmp(a->name, prefix) == 0
                  : !*a->prefix && strcmp(a->name, "xmlns") == 0)
        return a->value;
    }
  }
  return NULL;
}

int vg_xml_escape(const char *s, char *out, size_t size) {
  size_t n = 0;
  if (size == 0) return VG_ETOOBIG;
  for (; *s; s++) {
    const char *rep = NULL;
    switch (*s) {
    case '&': rep = "&amp;"; break;
    case '<': rep = "&lt;"; break;
    case '>': rep = "&gt;"; break;
    case '"': rep = "&quot;"; break;
    case '\'': rep = "&apos;"; break;
    }
    size_t k = rep ? strlen(rep) : 1;
    if (n + k >= size) {
      out[n] = '\0';
      return VG_ETOOBIG;
    }
    if (rep)
      memcpy(out + n, rep, k);
    else
      out[n] = *s;
    n += k;
  }
  out[n] = '\0';
  return (int)n;
}
