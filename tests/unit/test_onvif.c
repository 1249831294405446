/* Unit tests for the XML reader and the ONVIF / WS-Discovery codecs. The
 * sample answers follow the shapes of the ONVIF specification's examples
 * (Media 1 and 2, PTZ, events); the digest vector is computed here with
 * the formula of the WS-Security UsernameToken profile and checked against
 * an independent SHA-1 run (openssl dgst) noted below. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "base/error.h"
#include "proto/onvif.h"
#include "proto/xml.h"

static vg_xml_doc_t *parse(const char *s) {
  vg_xml_doc_t *doc = NULL;
  assert_int_equal(vg_xml_parse(s, strlen(s), &doc), 0);
  return doc;
}

static void test_xml_basics(void **state) {
  (void)state;
  vg_xml_doc_t *doc =
      parse("<?xml version=\"1.0\"?>\n<!-- c --><a:root xmlns:a=\"urn:a\" x='1'>"
            "<b>one &amp; &lt;two&gt; &#65;&#x42;</b><b>2</b><c/><![CDATA[<raw>]]></a:root>\n");
  const vg_xml_node_t *root = vg_xml_root(doc);
  assert_string_equal(root->name, "root");
  assert_string_equal(root->prefix, "a");
  assert_string_equal(vg_xml_attr(root, "x"), "1");
  assert_string_equal(vg_xml_namespace(root, "a"), "urn:a");
  assert_null(vg_xml_namespace(root, "zz"));
  const vg_xml_node_t *b = vg_xml_child(root, "b");
  assert_string_equal(b->text, "one & <two> AB");
  assert_string_equal(vg_xml_next_same(b)->text, "2");
  assert_null(vg_xml_next_same(vg_xml_next_same(b)));
  assert_string_equal(root->text, "<raw>");
  assert_non_null(vg_xml_find(root, "c"));
  char t[8];
  assert_int_equal(vg_xml_text(root, "b", t, sizeof(t)), VG_ETOOBIG);
  assert_int_equal(vg_xml_text(root, "missing/x", t, sizeof(t)), 0);
  vg_xml_free(&doc);
  assert_null(doc);
}

static void test_xml_rejects(void **state) {
  (void)state;
  static const char *const bad[] = {
      "",
      "<a>",
      "<a></b>",
      "<a><b></a></b>",
      "<a/><b/>",
      "text<a/>",
      "<!DOCTYPE a [<!ENTITY x \"y\">]><a>&x;</a>",
      "<a>&unknown;</a>",
      "<a>&#0;</a>",
      "<a>&#xD800;</a>",
      "<a x=1/>",
      "<a x=\"1\"y=\"2\"/>",
      "<a x=\"<\"/>",
      "<:a/>",
      "<a:b:c/>",
      "<a><![CDATA[x</a>",
      "<a><!-- x</a>",
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    vg_xml_doc_t *doc = NULL;
    int r = vg_xml_parse(bad[i], strlen(bad[i]), &doc);
    if (r == 0) fail_msg("accepted: %s", bad[i]);
    assert_null(doc);
  }
  /* Depth and size limits. */
  char deep[VG_XML_MAX_DEPTH * 3 + 16];
  size_t n = 0;
  for (int i = 0; i <= VG_XML_MAX_DEPTH; i++)
    n += (size_t)snprintf(deep + n, sizeof(deep) - n, "<a>");
  vg_xml_doc_t *doc = NULL;
  assert_int_equal(vg_xml_parse(deep, n, &doc), VG_ETOOBIG);
}

static void test_digest_and_token(void **state) {
  (void)state;
  /* printf '0123456789abcdef2026-11-21T10:00:00Zsecret' | openssl dgst -sha1 -binary | base64 */
  const uint8_t nonce[16] = "0123456789abcdef";
  char d[64];
  assert_true(vg_onvif_password_digest(nonce, 16, "2026-11-21T10:00:00Z", "secret", d, sizeof(d)) > 0);
  assert_string_equal(d, "zDU3FhXKh3g1oolOXnQFZKHGViE=");

  vg_onvif_cred_t cred = {"admin", "secret"};
  int64_t now;
  assert_int_equal(vg_onvif_parse_time("2026-11-21T10:00:00Z", &now), 0);
  vg_strbuf_t sb;
  vg_strbuf_init(&sb, 0);
  assert_int_equal(
      vg_onvif_envelope(&sb, &cred, now, nonce, "<GetProfiles xmlns=\"" VG_ONVIF_NS_MEDIA "\"/>"), 0);
  vg_xml_doc_t *doc = parse(sb.data);
  const vg_xml_node_t *env = vg_xml_root(doc);
  assert_string_equal(vg_onvif_body(env)->name, "GetProfiles");
  assert_int_equal(vg_onvif_check_token(env, "admin", "secret", now + 3, 60), 0);
  assert_int_equal(vg_onvif_check_token(env, "admin", "wrong", now, 60), VG_EAUTH);
  assert_int_equal(vg_onvif_check_token(env, "other", "secret", now, 60), VG_EAUTH);
  assert_int_equal(vg_onvif_check_token(env, "admin", "secret", now + 3600, 60), VG_EAUTH); /* clock off */
  vg_xml_free(&doc);
  vg_strbuf_free(&sb);
  /* No credentials: no header, and a device refuses it. */
  assert_int_equal(vg_onvif_envelope(&sb, NULL, now, nonce, "<x/>"), 0);
  doc = parse(sb.data);
  assert_int_equal(vg_onvif_check_token(vg_xml_root(doc), "admin", "secret", now, 60), VG_EAUTH);
  vg_xml_free(&doc);
  vg_strbuf_free(&sb);
  assert_int_equal(vg_onvif_parse_time("2026-13-01T00:00:00Z", &now), VG_EINVAL);
  assert_int_equal(vg_onvif_parse_time("2026-11-21T10:00:00.250Z", &now), 0);
}

static const char *const profiles_media1 =
    "<env:Envelope xmlns:env=\"http://www.w3.org/2003/05/soap-envelope\" xmlns:trt=\"" VG_ONVIF_NS_MEDIA
    "\" xmlns:tt=\"http://www.onvif.org/ver10/schema\"><env:Body><trt:GetProfilesResponse>"
    "<trt:Profiles token=\"main\" fixed=\"true\"><tt:Name>Main</tt:Name><tt:VideoEncoderConfiguration "
    "token=\"v0\">"
    "<tt:Encoding>H264</tt:Encoding><tt:Resolution><tt:Width>1920</tt:Width><tt:Height>1080</tt:Height>"
    "</tt:Resolution><tt:RateControl><tt:FrameRateLimit>25</tt:FrameRateLimit></tt:RateControl>"
    "</tt:VideoEncoderConfiguration><tt:PTZConfiguration token=\"ptz0\"/></trt:Profiles>"
    "<trt:Profiles token=\"sub\"><tt:Name>Sub</tt:Name></trt:Profiles></trt:GetProfilesResponse></env:Body>"
    "</env:Envelope>";

static void test_responses(void **state) {
  (void)state;
  vg_xml_doc_t *doc = parse(profiles_media1);
  vg_onvif_profile_t p[4];
  assert_int_equal(vg_onvif_parse_profiles(vg_xml_root(doc), p, 4), 2);
  assert_string_equal(p[0].token, "main");
  assert_string_equal(p[0].encoding, "H264");
  assert_int_equal(p[0].width, 1920);
  assert_int_equal(p[0].height, 1080);
  assert_true(p[0].fps == 25.0);
  assert_true(p[0].has_ptz);
  assert_false(p[1].has_ptz);
  vg_xml_free(&doc);

  doc = parse(
      "<s:Envelope xmlns:s=\"x\"><s:Body><tr2:GetProfilesResponse xmlns:tr2=\"y\"><tr2:Profiles token=\"p2\">"
      "<tt:Name>H265 main</tt:Name><tr2:Configurations><tr2:VideoEncoder><tt:Encoding>H265</tt:Encoding>"
      "<tt:Resolution><tt:Width>1280</tt:Width><tt:Height>720</tt:Height></tt:Resolution>"
      "</tr2:VideoEncoder><tr2:PTZ token=\"z\"/></tr2:Configurations></tr2:Profiles>"
      "</tr2:GetProfilesResponse></s:Body></s:Envelope>");
  assert_int_equal(vg_onvif_parse_profiles(vg_xml_root(doc), p, 4), 1);
  assert_string_equal(p[0].encoding, "H265");
  assert_int_equal(p[0].width, 1280);
  assert_true(p[0].has_ptz);
  vg_xml_free(&doc);

  doc = parse(
      "<s:Envelope xmlns:s=\"x\"><s:Body><trt:GetStreamUriResponse><trt:MediaUri><tt:Uri>"
      " rtsp://10.0.0.2:554/main </tt:Uri></trt:MediaUri></trt:GetStreamUriResponse></s:Body></s:Envelope>");
  char uri[128];
  assert_int_equal(vg_onvif_parse_uri(vg_xml_root(doc), uri, sizeof(uri)), 0);
  assert_string_equal(uri, "rtsp://10.0.0.2:554/main");
  vg_xml_free(&doc);

  doc = parse(
      "<s:Envelope><s:Body><tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime><tt:UTCDateTime>"
      "<tt:Time><tt:Hour>10</tt:Hour><tt:Minute>0</tt:Minute><tt:Second>5</tt:Second></tt:Time>"
      "<tt:Date><tt:Year>2026</tt:Year><tt:Month>11</tt:Month><tt:Day>21</tt:Day></tt:Date>"
      "</tt:UTCDateTime></tds:SystemDateAndTime></tds:GetSystemDateAndTimeResponse></s:Body></s:Envelope>");
  int64_t t, expect;
  assert_int_equal(vg_onvif_parse_datetime(vg_xml_root(doc), &t), 0);
  vg_onvif_parse_time("2026-11-21T10:00:05Z", &expect);
  assert_true(t == expect);
  vg_xml_free(&doc);

  doc =
      parse("<s:Envelope><s:Body><s:Fault><s:Code><s:Value>s:Sender</s:Value><s:Subcode><s:Value>"
            "ter:NotAuthorized</s:Value></s:Subcode></s:Code><s:Reason><s:Text>Sender not authorized</s:Text>"
            "</s:Reason></s:Fault></s:Body></s:Envelope>");
  char reason[64];
  assert_int_equal(vg_onvif_fault(vg_xml_root(doc), reason, sizeof(reason)), 1);
  assert_string_equal(reason, "Sender not authorized");
  assert_int_equal(vg_onvif_parse_profiles(vg_xml_root(doc), p, 4), VG_EPROTO);
  vg_xml_free(&doc);

  doc = parse("<s:Envelope><s:Body><tev:PullMessagesResponse><tev:CurrentTime>x</tev:CurrentTime>"
              "<wsnt:NotificationMessage><wsnt:Topic Dialect=\"d\">tns1:VideoSource/MotionAlarm</wsnt:Topic>"
              "<wsnt:Message><tt:Message UtcTime=\"2026-11-21T10:00:05Z\" PropertyOperation=\"Changed\">"
              "<tt:Source><tt:SimpleItem Name=\"Source\" Value=\"vs0\"/></tt:Source><tt:Data>"
              "<tt:SimpleItem Name=\"State\" Value=\"true\"/></tt:Data></tt:Message></wsnt:Message>"
              "</wsnt:NotificationMessage></tev:PullMessagesResponse></s:Body></s:Envelope>");
  vg_onvif_event_t ev[2];
  assert_int_equal(vg_onvif_parse_messages(vg_xml_root(doc), ev, 2), 1);
  assert_string_equal(ev[0].topic, "tns1:VideoSource/MotionAlarm");
  assert_string_equal(ev[0].operation, "Changed");
  assert_string_equal(ev[0].source, "Source=vs0");
  assert_string_equal(ev[0].data_name, "State");
  assert_string_equal(ev[0].data_value, "true");
  assert_true(ev[0].utc_s == expect);
  vg_xml_free(&doc);
}

static void test_ptz_requests_roundtrip(void **state) {
  (void)state;
  vg_ptz_cmd_t cmd = {.op = VG_PTZ_CONTINUOUS, .pan = 0.5, .tilt = -0.25, .zoom = 0, .timeout_ms = 1500};
  vg_strbuf_t sb;
  vg_strbuf_init(&sb, 0);
  assert_int_equal(vg_onvif_req_ptz(&sb, "prof<1>", &cmd), 0);
  vg_xml_doc_t *doc = parse(sb.data);
  const vg_xml_node_t *r = vg_xml_root(doc);
  assert_string_equal(r->name, "ContinuousMove");
  char v[32];
  vg_xml_text(r, "ProfileToken", v, sizeof(v));
  assert_string_equal(v, "prof<1>");
  assert_string_equal(vg_xml_attr(vg_xml_path(r, "Velocity/PanTilt"), "x"), "0.5000");
  vg_xml_text(r, "Timeout", v, sizeof(v));
  assert_string_equal(v, "PT1.500S");
  vg_xml_free(&doc);
  vg_strbuf_free(&sb);
  cmd.op = VG_PTZ_GOTO_PRESET;
  snprintf(cmd.preset, sizeof(cmd.preset), "7");
  assert_int_equal(vg_onvif_req_ptz(&sb, "p", &cmd), 0);
  assert_non_null(strstr(sb.data, "<PresetToken>7</PresetToken>"));
  vg_strbuf_free(&sb);
}

static void test_discovery(void **state) {
  (void)state;
  vg_strbuf_t sb;
  vg_strbuf_init(&sb, 0);
  assert_int_equal(vg_wsd_probe(&sb, "uuid:probe-1"), 0);
  vg_xml_doc_t *doc = parse(sb.data);
  char id[64];
  assert_true(vg_wsd_is_probe(vg_xml_root(doc), id, sizeof(id)));
  assert_string_equal(id, "uuid:probe-1");
  vg_xml_free(&doc);
  vg_strbuf_free(&sb);

  vg_wsd_match_t m = {.endpoint = "urn:uuid:cam-1",
                      .xaddrs = "http://127.0.0.1:8000/onvif/device_service",
                      .scopes = "onvif://www.onvif.org/name/camsim"};
  assert_int_equal(vg_wsd_probe_matches(&sb, "uuid:probe-1", "uuid:answer", &m), 0);
  doc = parse(sb.data);
  vg_wsd_match_t got[2];
  char rel[64];
  assert_int_equal(vg_wsd_parse_matches(vg_xml_root(doc), got, 2, rel, sizeof(rel)), 1);
  assert_string_equal(rel, "uuid:probe-1");
  assert_string_equal(got[0].endpoint, m.endpoint);
  assert_string_equal(got[0].xaddrs, m.xaddrs);
  assert_false(vg_wsd_is_probe(vg_xml_root(doc), id, sizeof(id)));
  vg_xml_free(&doc);
  vg_strbuf_free(&sb);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_xml_basics),
      cmocka_unit_test(test_xml_rejects),
      cmocka_unit_test(test_digest_and_token),
      cmocka_unit_test(test_responses),
      cmocka_unit_test(test_ptz_requests_roundtrip),
      cmocka_unit_test(test_discovery),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
