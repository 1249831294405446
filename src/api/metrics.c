#include "api/metrics.h"

#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/error.h"
#include "ingest/camera.h"

/* ---- vigil's own families ---- */

/* What /metrics needs of one camera; vg_camera_info_t is large, so the
 * snapshot keeps only this. */
typedef struct {
  char id[64];
  vg_camera_state_t state;
  uint64_t frames, bytes, rtp_packets, rtp_lost, reconnects, errors;
} camera_sample_t;

typedef struct {
  camera_sample_t *list;
  size_t count, cap;
  int failed;
} camera_samples_t;

static void collect_camera(const vg_camera_info_t *info, void *opaque) {
  camera_samples_t *s = opaque;
  if (s->failed) return;
  if (s->count == s->cap) {
    size_t cap = s->cap ? s->cap * 2 : 16;
    camera_sample_t *grown = realloc(s->list, cap * sizeof(*grown));
    if (!grown) {
      s->failed = 1;
      return;
    }
    s->list = grown;
    s->cap = cap;
  }
  camera_sample_t *c = &s->list[s->count++];
  snprintf(c->id, sizeof(c->id), "%s", info->id);
  c->state = info->state;
  c->frames = info->frames;
  c->bytes = info->bytes;
  c->rtp_packets = info->rtp_packets;
  c->rtp_lost = info->rtp_lost;
  c->reconnects = info->reconnects;
  c->errors = info->errors;
}

typedef struct {
  const char *name, *type, *help;
  size_t offset; /* of a uint64_t in camera_sample_t */
} camera_family_t;

static const camera_family_t camera_families[] = {
    {"vigil_camera_frames_total", "counter", "Access units received from the camera.",
     offsetof(camera_sample_t, frames)},
    {"vigil_camera_bytes_total", "counter", "Media payload bytes received from the camera.",
     offsetof(camera_sample_t, bytes)},
    {"vigil_camera_rtp_packets_total", "counter", "RTP packets received from the camera.",
     offsetof(camera_sample_t, rtp_packets)},
    {"vigil_camera_rtp_packets_lost_total", "counter", "RTP packets lost, from sequence number gaps.",
     offsetof(camera_sample_t, rtp_lost)},
    {"vigil_camera_reconnects_total", "counter", "Reconnection attempts after the camera went offline.",
     offsetof(camera_sample_t, reconnects)},
    {"vigil_camera_errors_total", "counter", "Malformed input from the camera that was dropped.",
     offsetof(camera_sample_t, errors)},
};

static void render_cameras(vg_strbuf_t *out) {
  camera_samples_t s = {0};
  vg_cameras_foreach(collect_camera, &s);

  size_t by_state[VG_CAM_DISABLED + 1] = {0};
  for (size_t i = 0; i < s.count; i++)
    if (s.list[i].state <= VG_CAM_DISABLED) by_state[s.list[i].state]++;
  vg_metrics_family(out, "vigil_cameras", "gauge", "Configured cameras by state.");
  for (int st = VG_CAM_CONNECTING; st <= VG_CAM_DISABLED; st++) {
    const char *labels[] = {"state", vg_camera_state_name((vg_camera_state_t)st), NULL};
    vg_metrics_sample_u64(out, "vigil_cameras", labels, by_state[st]);
  }

  vg_metrics_family(out, "vigil_camera_up", "gauge", "Whether the camera is online (1) or not (0).");
  for (size_t i = 0; i < s.count; i++) {
    const char *labels[] = {"camera", s.list[i].id, NULL};
    vg_metrics_sample_u64(out, "vigil_camera_up", labels, s.list[i].state == VG_CAM_ONLINE);
  }
  for (size_t f = 0; f < sizeof(camera_families) / sizeof(camera_families[0]); f++) {
    const camera_family_t *fam = &camera_families[f];
    vg_metrics_family(out, fam->name, fam->type, fam->help);
    for (size_t i = 0; i < s.count; i++) {
      const char *labels[] = {"camera", s.list[i].id, NULL};
      uint64_t v;
      memcpy(&v, (const char *)&s.list[i] + fam->offset, sizeof(v));
      vg_metrics_sample_u64(out, fam->name, labels, v);
    }
  }
  free(s.list);
}

static void render_process(vg_strbuf_t *out) {
  vg_process_stats_t ps;
  vg_process_get_stats(&ps);
  vg_metrics_single_u64(out, "vigil_process_resident_memory_bytes", "gauge", "Resident memory size in bytes.",
                        ps.resident_bytes);
  vg_metrics_family(out, "vigil_process_cpu_seconds_total", "counter", "User and system CPU time spent.");
  vg_metrics_sample(out, "vigil_process_cpu_seconds_total", NULL, ps.cpu_seconds);
  vg_metrics_family(out, "vigil_process_start_time_seconds", "gauge",
                    "Start time of the process, Unix time.");
  vg_metrics_sample(out, "vigil_process_start_time_seconds", NULL, ps.start_time_s);
  if (ps.open_fds >= 0) {
    vg_metrics_single_u64(out, "vigil_process_open_fds", "gauge", "Open file descriptors.",
                          (uint64_t)ps.open_fds);
  }
  vg_metrics_family(out, "vigil_build_info", "gauge", "Always 1; the version label names the build.");
  const char *labels[] = {"version", VG_VERSION, NULL};
  vg_metrics_sample_u64(out, "vigil_build_info", labels, 1);
}

static void render_buffers(vg_strbuf_t *out) {
  vg_buf_stats_t bs;
  vg_buf_get_stats(&bs);
  vg_metrics_single_u64(out, "vigil_buffer_allocs_total", "counter", "Media buffers allocated.", bs.allocs);
  vg_metrics_single_u64(out, "vigil_buffer_pool_hits_total", "counter",
                        "Media buffer allocations served from a pool's free list.", bs.pool_hits);
  vg_metrics_single_u64(out, "vigil_buffer_live_bytes", "gauge", "Capacity of media buffers in use.",
                        bs.bytes_live);
  vg_metrics_single_u64(out, "vigil_buffer_pooled_bytes", "gauge",
                        "Capacity of free media buffers kept in pools.", bs.bytes_pooled);
}

int vg_metrics_render(vg_strbuf_t *out) {
  render_cameras(out);
  render_process(out);
  render_buffers(out);
  vg_metrics_run_collectors(out);
  return out->error;
}
