/* Fuzzes the fMP4 muxer with untrusted codec configuration: a track's
 * extradata comes from a camera's SDP (sprop-parameter-sets, AAC config) or
 * from in-band parameter sets, and the muxer parses it for avcC/hvcC/esds.
 * Input: byte 0 picks the codec, byte 1 whether an audio track follows,
 * the rest is the extradata. The init segment must be built or refused
 * cleanly, and a frame must mux into a fragment whose pieces add up. */
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "media/fmp4.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const vg_codec_t codecs[] = {VG_CODEC_H264, VG_CODEC_H265, VG_CODEC_AAC, VG_CODEC_OPUS,
                                      VG_CODEC_PCMU};
  if (size < 2) return 0;
  vg_track_t t[2];
  memset(t, 0, sizeof(t));
  t[0].codec = codecs[data[0] % 5];
  t[0].clock_rate = vg_codec_is_video(t[0].codec) ? 90000 : 48000;
  t[0].sample_rate = 48000;
  t[0].channels = 1 + (data[1] & 1);
  t[0].extradata = vg_buf_from(data + 2, size - 2);
  int n = 1;
  if (data[1] & 2) {
    static const uint8_t asc[] = {0x14, 0x08}; /* AAC-LC 16 kHz mono */
    t[1].codec = VG_CODEC_AAC;
    t[1].clock_rate = 16000;
    t[1].sample_rate = 16000;
    t[1].channels = 1;
    t[1].extradata = vg_buf_from(asc, sizeof(asc));
    n = 2;
  }
  vg_fmp4_t *m = NULL;
  if (vg_fmp4_create(t, n, &m) == 0) {
    vg_buf_t *init = NULL;
    if (vg_fmp4_init_segment(m, &init) < 0) abort();
    vg_buf_unref(&init);
    vg_frame_t f = {0};
    static const uint8_t au[] = {0, 0, 0, 2, 0x65, 0x88};
    f.buf = vg_buf_from(au, sizeof(au));
    f.data = f.buf->data;
    f.len = sizeof(au);
    f.flags = VG_FRAME_KEY;
    for (int i = 0; i < 3; i++) {
      f.pts = i * 3000;
      if (vg_fmp4_add_frame(m, &f) != 0) abort();
    }
    vg_frame_unref(&f);
    vg_fmp4_fragment_t frag;
    if (vg_fmp4_flush_fragment(m, &frag) == 0) {
      size_t sum = 0;
      for (int i = 0; i < frag.iov_count; i++) sum += frag.iov[i].iov_len;
      if (sum != frag.size) abort();
      vg_fmp4_fragment_release(&frag);
    }
    vg_fmp4_free(&m);
  }
  for (int i = 0; i < n; i++) vg_track_clear(&t[i]);
  return 0;
}
