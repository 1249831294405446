#include "ingest/rtmp_ingest.h"

#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "media/flv.h"
#include "media/nal.h"

void vg_rtmp_ingest_init(vg_rtmp_ingest_t *ing, const vg_rtmp_ingest_sink_t *sink) {
  memset(ing, 0, sizeof(*ing));
  ing->sink = *sink;
  ing->video.index = ing->audio.index = -1;
}

void vg_rtmp_ingest_clear(vg_rtmp_ingest_t *ing) {
  vg_track_clear(&ing->video.track);
  vg_track_clear(&ing->audio.track);
}

/* Publishes the tracks whose sequence header has arrived. */
static void publish_tracks(vg_rtmp_ingest_t *ing) {
  vg_track_t list[2];
  int n = 0;
  ing->video.index = ing->audio.index = -1;
  if (ing->video.track.codec != VG_CODEC_NONE) {
    ing->video.index = n;
    list[n++] = ing->video.track;
  }
  if (ing->audio.track.codec != VG_CODEC_NONE) {
    ing->audio.index = n;
    list[n++] = ing->audio.track;
  }
  ing->published = 1;
  ing->sink.set_tracks(ing->sink.opaque, list, n);
}

static int handle_config(vg_rtmp_ingest_t *ing, vg_rtmp_ingest_track_t *t, const vg_flv_packet_t *pkt) {
  vg_track_t nt;
  memset(&nt, 0, sizeof(nt));
  nt.codec = pkt->codec;
  int e;
  if (pkt->codec == VG_CODEC_AAC) {
    if (pkt->len < 2 || pkt->len > 64) return VG_EPROTO;
    e = vg_flv_aac_config(pkt->data, pkt->len, &nt.sample_rate, &nt.channels);
    if (e) return e;
    nt.clock_rate = (uint32_t)nt.sample_rate;
    nt.extradata = vg_buf_from(pkt->data, pkt->len);
    if (!nt.extradata) return VG_ENOMEM;
    t->nal_length_size = 0;
  } else {
    int size = 4;
    e = pkt->codec == VG_CODEC_H264 ? vg_flv_avcc_to_extradata(pkt->data, pkt->len, &nt.extradata, &size)
                                    : vg_flv_hvcc_to_extradata(pkt->data, pkt->len, &nt.extradata, &size);
    if (e) return e;
    nt.clock_rate = 90000;
    vg_track_update_video_info(&nt, NULL, 0);
    if (!nt.fps && ing->meta_fps > 0) nt.fps = ing->meta_fps;
    t->nal_length_size = size;
  }
  int same_codec = t->track.codec == nt.codec;
  vg_track_clear(&t->track);
  t->track = nt;
  if (!ing->published) return 0;
  if (same_codec && t->index >= 0)
    ing->sink.update_track(ing->sink.opaque, t->index, &t->track);
  else
    publish_tracks(ing); /* a codec that was not in the list: a new generation */
  return 0;
}

/* How long audio waits for the video that onMetaData announced. */
#define VIDEO_WAIT_MS 3000

static int64_t unwrap(vg_rtmp_ingest_track_t *t, uint32_t ts) {
  if (!t->have_last) {
    t->ext_ts = ts;
    t->have_last = 1;
  } else {
    t->ext_ts += (int32_t)(ts - t->last_ts);
  }
  t->last_ts = ts;
  return t->ext_ts;
}

static int handle_frame(vg_rtmp_ingest_t *ing, vg_rtmp_ingest_track_t *t, const vg_rtmp_msg_t *msg,
                        const vg_flv_packet_t *pkt, int64_t now_mono_us, int64_t now_utc_us) {
  if (t->track.codec == VG_CODEC_NONE || t->track.codec != pkt->codec) return 0; /* no sequence header yet */
  int64_t ms = unwrap(t, msg->timestamp);
  /* A relay (nginx-rtmp) forwards each codec's sequence header with its
   * first frame, and audio flows before an encoder's first video frame:
   * publishing then would give readers an audio-only stream and a new
   * track list a moment later. Audio waits for the announced video, up to
   * a limit for a stream whose metadata promised more than it sends. */
  if (!ing->published && ing->meta_video && ing->video.track.codec == VG_CODEC_NONE) {
    if (!ing->holding) ing->holding = 1, ing->hold_from_ms = ms;
    if (ms - ing->hold_from_ms < VIDEO_WAIT_MS) return 0;
  }
  if (!ing->have_base) {
    ing->have_base = 1;
    ing->base_ms = ms;
    ing->base_utc_us = now_utc_us;
  }
  if (!ing->published) publish_tracks(ing);
  if (t->index < 0) return 0;
  int64_t dts_ms = ms - ing->base_ms;
  int64_t pts_ms = dts_ms + pkt->cts;
  if (pts_ms < 0) pts_ms = 0;
  vg_frame_t f;
  memset(&f, 0, sizeof(f));
  if (pkt->codec == VG_CODEC_AAC) {
    if (!pkt->len) return VG_EPROTO;
    f.buf = vg_buf_ref(msg->buf);
    f.data = pkt->data;
    f.len = (uint32_t)pkt->len;
    f.flags = VG_FRAME_KEY;
    f.pts = pts_ms * (int64_t)t->track.clock_rate / 1000;
  } else {
    const uint8_t *data;
    size_t len;
    int e = vg_flv_nalus_to_au(msg->buf, pkt->data, pkt->len, t->nal_length_size, &f.buf, &data, &len);
    if (e) return e;
    f.data = data;
    f.len = (uint32_t)len;
    f.flags = pkt->key ? VG_FRAME_KEY : 0;
    f.pts = pts_ms * 90;
  }
  f.track = (uint8_t)t->index;
  f.recv_us = now_mono_us;
  f.utc_us = ing->base_utc_us + dts_ms * 1000;
  ing->sink.frame(ing->sink.opaque, &f);
  vg_frame_unref(&f);
  ing->frames++;
  return 1;
}

/* onMetaData: the frame rate, and whether video is coming (the size comes
 * from the SPS). */
static void handle_data(vg_rtmp_ingest_t *ing, const vg_rtmp_msg_t *msg) {
  vg_rtmp_command_t *cmd = malloc(sizeof(*cmd));
  if (!cmd) return;
  if (vg_rtmp_command_parse(msg->buf->data, msg->buf->len, 1, cmd) == 0) {
    const vg_amf0_value_t *meta = NULL;
    if (strcmp(cmd->name, "@setDataFrame") == 0 && cmd->nargs >= 2 &&
        vg_amf0_str_eq(cmd->arg[0], "onMetaData"))
      meta = cmd->arg[1];
    else if (strcmp(cmd->name, "onMetaData") == 0 && cmd->nargs >= 1)
      meta = cmd->arg[0];
    if (vg_amf0_get(&cmd->doc, meta, "videocodecid")) ing->meta_video = 1;
    double fps = vg_amf0_num(vg_amf0_get(&cmd->doc, meta, "framerate"), 0);
    if (fps > 0 && fps < 1000) {
      ing->meta_fps = fps;
      if (ing->video.track.codec != VG_CODEC_NONE && !ing->video.track.fps) ing->video.track.fps = fps;
    }
  }
  free(cmd);
}

int vg_rtmp_ingest_message(vg_rtmp_ingest_t *ing, const vg_rtmp_msg_t *msg, int64_t now_mono_us,
                           int64_t now_utc_us) {
  if (msg->type == VG_RTMP_MSG_DATA_AMF0) {
    handle_data(ing, msg);
    return 0;
  }
  if (msg->type != VG_RTMP_MSG_AUDIO && msg->type != VG_RTMP_MSG_VIDEO) return 0;
  if (!msg->buf->len) return 0; /* an empty tag: some encoders send them as keep-alives */
  vg_flv_packet_t pkt;
  int video = msg->type == VG_RTMP_MSG_VIDEO;
  int e = video ? vg_flv_parse_video(msg->buf->data, msg->buf->len, &pkt)
                : vg_flv_parse_audio(msg->buf->data, msg->buf->len, &pkt);
  if (e == VG_EUNSUPPORTED) return 0; /* another codec: not ours to carry */
  vg_rtmp_ingest_track_t *t = video ? &ing->video : &ing->audio;
  if (e == 0) {
    switch (pkt.kind) {
    case VG_FLV_CONFIG: e = handle_config(ing, t, &pkt); break;
    case VG_FLV_FRAME: e = handle_frame(ing, t, msg, &pkt, now_mono_us, now_utc_us); break;
    default: break;
    }
  }
  if (e < 0) ing->errors++;
  return e;
}
