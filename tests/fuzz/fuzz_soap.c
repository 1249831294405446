/* libFuzzer target: SOAP bytes from a camera or a discovery answer, through
 * the XML reader and every ONVIF / WS-Discovery response parser. */
#include <stddef.h>
#include <stdint.h>

#include "proto/onvif.h"
#include "proto/xml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  vg_xml_doc_t *doc = NULL;
  if (vg_xml_parse((const char *)data, size, &doc) != 0) return 0;
  const vg_xml_node_t *env = vg_xml_root(doc);
  char s[256];
  int64_t t;
  double a, b, c;
  vg_onvif_profile_t profiles[8];
  vg_onvif_preset_t presets[8];
  vg_onvif_event_t events[8];
  vg_onvif_device_info_t info;
  vg_onvif_services_t services;
  vg_wsd_match_t matches[4];
  vg_onvif_fault(env, s, sizeof(s));
  vg_onvif_parse_datetime(env, &t);
  vg_onvif_parse_device_info(env, &info);
  vg_onvif_parse_services(env, &services);
  vg_onvif_parse_profiles(env, profiles, 8);
  vg_onvif_parse_uri(env, s, sizeof(s));
  vg_onvif_parse_presets(env, presets, 8);
  vg_onvif_parse_ptz_status(env, &a, &b, &c);
  vg_onvif_parse_preset_token(env, s, sizeof(s));
  vg_onvif_parse_subscription(env, s, sizeof(s));
  vg_onvif_parse_messages(env, events, 8);
  vg_wsd_parse_matches(env, matches, 4, s, sizeof(s));
  vg_wsd_is_probe(env, s, sizeof(s));
  vg_onvif_check_token(env, "admin", "secret", 1800000000, 60);
  vg_xml_namespace(env, "s");
  vg_xml_find(env, "Uri");
  vg_xml_free(&doc);
  return 0;
}
