/* Fuzzes the RTP header parser, the RTCP compound parser, the receiver
 * statistics and the reorder buffer. The input is used whole as one RTP
 * packet and one RTCP packet, then cut into datagrams by a length byte for
 * the reorder buffer. */
#include <stdlib.h>
#include <string.h>

#include "proto/rtcp.h"
#include "proto/rtp.h"

static int64_t last_released = -1;

static void on_release(void *opaque, vg_buf_t *pkt, int64_t ext_seq) {
  /* Released in strictly increasing order, always. */
  if (ext_seq <= last_released) abort();
  last_released = ext_seq;
  vg_rtp_stats_update(opaque, (uint16_t)ext_seq, 0, ext_seq);
  vg_buf_unref(&pkt);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  vg_rtp_packet_t p;
  if (vg_rtp_parse(data, size, &p) == 0) {
    if (p.payload < data || p.payload + p.payload_len > data + size) abort();
  }
  vg_rtcp_info_t info;
  vg_rtcp_parse(data, size, &info);
  if (info.has_cname && strlen(info.cname) > VG_RTCP_MAX_CNAME) abort();
  if (info.report_count > VG_RTCP_MAX_REPORTS || info.bye_count > VG_RTCP_MAX_BYE) abort();

  vg_rtp_stats_t stats;
  vg_rtp_stats_init(&stats, 90000);
  vg_rtp_reorder_t *r = NULL;
  unsigned window = size ? 1 + data[0] % 70 : 16;
  if (vg_rtp_reorder_new(window, size > 1 && (data[1] & 1) ? 10000 : 0, on_release, &stats, &r) != 0) abort();
  last_released = -1;
  int64_t now = 0;
  size_t off = 2;
  while (off + 3 <= size) {
    size_t len = data[off] % 20;
    now += data[off + 1] * 100;
    off += 2;
    if (len > size - off) len = size - off;
    /* A valid header with the fuzzer's seq, then its bytes. */
    uint8_t pkt[32] = {0x80, 96, data[off - 1], (uint8_t)(len ? data[off] : 0)};
    memcpy(pkt + 12, data + off, len);
    vg_rtp_reorder_push(r, vg_buf_from(pkt, 12 + len), now);
    if (vg_rtp_reorder_deadline(r) <= now + 5000) vg_rtp_reorder_poll(r, now + 5000);
    off += len;
  }
  vg_rtp_reorder_flush(r);
  vg_rtp_reorder_stats_t st;
  vg_rtp_reorder_get_stats(r, &st);
  vg_rtp_reorder_free(&r);
  vg_rtcp_report_block_t b;
  vg_rtcp_report_block_from_stats(&stats, now, &b);
  uint8_t out[600];
  if (vg_rtcp_build_rr(1, &b, 1, "fuzz", out, sizeof(out)) <= 0) abort();
  return 0;
}
