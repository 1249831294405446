/* Fuzzes the MPEG-TS demuxer: the input is split into chunks of sizes taken
 * from its first byte, as a network would deliver it, and every frame that
 * comes out is checked: video access units must walk as length-prefixed
 * NAL units, track indexes must be in range. Also the SRT stream id and
 * URL parsers on the same bytes as a string. */
#include <stdlib.h>
#include <string.h>

#include "ingest/srt_ingest.h"
#include "media/mpegts.h"
#include "media/nal.h"

typedef struct {
  int count;
  vg_codec_t codecs[VG_MAX_TRACKS];
} fuzz_state_t;

static void on_tracks(void *opaque, const vg_track_t *tracks, int count, int update_index) {
  fuzz_state_t *s = opaque;
  if (count < 1 || count > VG_MAX_TRACKS || update_index >= count) abort();
  s->count = count;
  for (int i = 0; i < count; i++)
    s->codecs[i] = tracks[i].codec;
}

static void on_frame(void *opaque, vg_frame_t *f) {
  fuzz_state_t *s = opaque;
  if (f->track >= s->count || f->len == 0 || f->data != f->buf->data) abort();
  if (vg_codec_is_video(s->codecs[f->track])) {
    size_t pos = 0, n;
    const uint8_t *nal;
    int r;
    while ((r = vg_nal_lp_next(f->data, f->len, &pos, &nal, &n)) == 1)
      ;
    if (r < 0) abort();
  }
  vg_frame_unref(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  size_t chunk = (size_t)data[0] * 7 + 1;
  data++;
  size--;
  fuzz_state_t st = {0};
  vg_ts_sink_t sink = {.on_frame = on_frame, .on_tracks = on_tracks, .opaque = &st};
  vg_ts_demux_t *d = vg_ts_demux_new(&sink);
  if (!d) return 0;
  for (size_t off = 0; off < size; off += chunk)
    vg_ts_demux_push(d, data + off, off + chunk <= size ? chunk : size - off, (int64_t)off);
  vg_ts_demux_flush(d, 0);
  vg_ts_demux_free(&d);

  char text[600];
  size_t n = size < sizeof(text) - 1 ? size : sizeof(text) - 1;
  memcpy(text, data, n);
  text[n] = 0;
  char name[64];
  if (vg_srt_streamid_name(text, name, sizeof(name)) == 0 && strlen(name) >= sizeof(name)) abort();
  vg_srt_url_t url;
  if (vg_srt_url_parse(text, &url) == 0 && (url.port < 1 || url.port > 65535)) abort();
  return 0;
}
