/* libFuzzer target: AMF0 decoding, the lookups over the decoded document,
 * command parsing, and re-encoding of what was decoded. */
#include <stdint.h>
#include <string.h>

#include "proto/amf0.h"
#include "proto/rtmp.h"

static void encode(vg_amf0_writer_t *w, const vg_amf0_doc_t *doc, const vg_amf0_value_t *v) {
  switch (v->type) {
  case VG_AMF0_NUMBER: vg_amf0_put_number(w, v->number); break;
  case VG_AMF0_BOOLEAN: vg_amf0_put_bool(w, v->boolean); break;
  case VG_AMF0_STRING:
  case VG_AMF0_LONG_STRING: vg_amf0_put_string_n(w, v->str, v->str_len); break;
  case VG_AMF0_NULL: vg_amf0_put_null(w); break;
  case VG_AMF0_UNDEFINED: vg_amf0_put_undefined(w); break;
  case VG_AMF0_DATE: vg_amf0_put_date(w, v->number, v->tz); break;
  case VG_AMF0_STRICT_ARRAY:
    vg_amf0_put_strict_array_begin(w, v->count);
    for (uint32_t i = 0; i < v->count; i++)
      encode(w, doc, vg_amf0_child(doc, v, (int)i));
    break;
  default:
    if (v->type == VG_AMF0_OBJECT)
      vg_amf0_put_object_begin(w);
    else
      vg_amf0_put_ecma_begin(w, v->count);
    for (uint32_t i = 0; i < v->count; i++) {
      const vg_amf0_value_t *c = vg_amf0_child(doc, v, (int)i);
      static char key[70000];
      memcpy(key, c->key, c->key_len);
      key[c->key_len] = 0;
      vg_amf0_put_key(w, key);
      encode(w, doc, c);
    }
    vg_amf0_put_object_end(w);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static vg_amf0_doc_t doc, again;
  static vg_rtmp_command_t cmd;
  static uint8_t out[1 << 20];
  int n = vg_amf0_decode(data, size, &doc);
  vg_rtmp_command_parse(data, size, 0, &cmd);
  vg_rtmp_command_parse(data, size, 1, &cmd);
  if (n <= 0) return 0;
  char s[64];
  vg_amf0_str(vg_amf0_top(&doc, 0), s, sizeof(s));
  vg_amf0_get(&doc, vg_amf0_top(&doc, n - 1), "app");
  vg_amf0_num(vg_amf0_top(&doc, 1), 0);
  /* Values without embedded keys that contain NUL re-encode to the same count. */
  vg_amf0_writer_t w;
  vg_amf0_writer_init(&w, out, sizeof(out));
  for (int i = 0; i < n; i++)
    encode(&w, &doc, vg_amf0_top(&doc, i));
  if (!w.err) {
    int m = vg_amf0_decode(out, w.len, &again);
    if (m >= 0 && m != n) __builtin_trap();
  }
  return 0;
}
