/*
 * xml.h: a small, bounded XML reader for SOAP (ONVIF, WS-Discovery).
 *
 * It parses a whole document into a tree of elements held in one arena
 * that the caller frees with vg_xml_free(). It is not a validating parser
 * and knows only what SOAP messages use: elements, attributes, character
 * data (with the five predefined entities and numeric character
 * references), CDATA sections, comments, processing instructions and the
 * XML declaration. A DOCTYPE is refused (no entity expansion, so no
 * "billion laughs"). Namespaces are kept as written: an element's name is
 * split into its prefix and local name, and lookups go by local name, which
 * is how SOAP peers that disagree on prefixes are read in practice; the
 * namespace URI of a prefix can be asked for when it matters.
 *
 * Limits: the input size, the element count and the nesting depth are
 * bounded (VG_XML_MAX_*); past them the parse fails with VG_ETOOBIG. Bad
 * syntax fails with VG_EPROTO. Never reads outside the input.
 *
 * Threads: a document belongs to one thread; the functions keep no state.
 */
#ifndef VG_PROTO_XML_H
#define VG_PROTO_XML_H

#include <stddef.h>

#define VG_XML_MAX_INPUT (4u << 20)
#define VG_XML_MAX_NODES 20000
#define VG_XML_MAX_DEPTH 64
#define VG_XML_MAX_ATTRS 32

typedef struct vg_xml_attr {
  const char *prefix; /* "" when none */
  const char *name;   /* local name */
  const char *value;  /* decoded */
} vg_xml_attr_t;

typedef struct vg_xml_node {
  const char *prefix; /* "" when none */
  const char *name;   /* local name */
  const char *text;   /* decoded character data directly inside, concatenated; "" when none */
  vg_xml_attr_t *attrs;
  int attr_count;
  struct vg_xml_node *parent, *first_child, *next;
} vg_xml_node_t;

typedef struct vg_xml_doc vg_xml_doc_t;

/* Parses len bytes. On success *out holds the document; free it with
 * vg_xml_free. Returns 0, VG_EPROTO, VG_ETOOBIG or VG_ENOMEM. */
int vg_xml_parse(const char *data, size_t len, vg_xml_doc_t **out);
void vg_xml_free(vg_xml_doc_t **doc);
const vg_xml_node_t *vg_xml_root(const vg_xml_doc_t *doc);

/* The first child of node with this local name, or NULL. */
const vg_xml_node_t *vg_xml_child(const vg_xml_node_t *node, const char *name);
/* The next sibling after node with the same local name, or NULL. */
const vg_xml_node_t *vg_xml_next_same(const vg_xml_node_t *node);
/* Follows a path of local names separated by '/' from node (e.g.
 * "Body/GetProfilesResponse"), taking the first match at each step. */
const vg_xml_node_t *vg_xml_path(const vg_xml_node_t *node, const char *path);
/* The first element with this local name anywhere under node (depth first,
 * node itself included), or NULL. */
const vg_xml_node_t *vg_xml_find(const vg_xml_node_t *node, const char *name);
/* The text of vg_xml_path(node, path) with leading and trailing white space
 * trimmed into out; "" when absent. Returns the length or VG_ETOOBIG. */
int vg_xml_text(const vg_xml_node_t *node, const char *path, char *out, size_t size);
/* The value of an attribute by local name, or NULL. */
const char *vg_xml_attr(const vg_xml_node_t *node, const char *name);
/* The namespace URI bound to prefix at node ("" for the default), or NULL. */
const char *vg_xml_namespace(const vg_xml_node_t *node, const char *prefix);

/* Appends s to out with &, <, >, " and ' escaped; returns the length
 * written or VG_ETOOBIG (out is then truncated but terminated). */
int vg_xml_escape(const char *s, char *out, size_t size);

#endif
