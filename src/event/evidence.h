/*
 * evidence.h: an event's pictures: the snapshot (a camera's picture at full
 * resolution, decoded from its stream hub's GOP cache) as JPEG, with the
 * object's box drawn on it or cropped to it, a thumbnail, and the files
 * they are kept in.
 *
 * Grabbing opens a reader on the camera's hub, which hands it the frames
 * since the last keyframe (hub.h), decodes them with libavcodec and keeps
 * the picture closest to (at or before) the analysed frame's time. It costs
 * the decoding of up to one GOP, so the event service rate-limits it.
 * JPEGs are encoded with libturbojpeg; with a size limit the quality is
 * searched (highest quality whose file fits).
 *
 * Threads: every function may be called from any thread; nothing is
 * shared (a grab opens its own hub reader and decoder).
 */
#ifndef VG_EVENT_EVIDENCE_H
#define VG_EVENT_EVIDENCE_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
  int width, height, stride; /* stride in bytes */
  uint8_t *rgb;              /* owned: free() */
} vg_rgb_image_t;

typedef struct {
  int overlay;         /* vg_event_overlay_t */
  int quality;         /* first JPEG quality tried, 10..100 */
  size_t max_bytes;    /* 0: no limit */
  int thumbnail_width; /* 32.. */
} vg_evidence_opts_t;

/* Decodes the picture of camera's hub closest to (at or before, else the
 * first after) frame_utc_us among the cached GOP and what follows it at
 * once. Returns 0 and *out, VG_ENOTFOUND (no hub, no video track, no
 * picture yet), VG_ENODATA (the cached pictures all come more than a frame
 * or so after frame_utc_us: that moment is gone), VG_EUNSUPPORTED (a codec
 * we do not decode). */
int vg_evidence_grab(const char *camera, int64_t frame_utc_us, vg_rgb_image_t *out);
void vg_rgb_image_free(vg_rgb_image_t *img);

/* Draws the outline of box (normalized x1, y1, x2, y2) on img. */
void vg_evidence_draw_box(vg_rgb_image_t *img, const float box[4]);

/* Encodes img as JPEG at quality; with max_bytes, lowers the quality
 * (binary search down to 10) until the file fits. Returns 0 and *out
 * (malloc'd) and *len; *quality_used (may be NULL) gets the quality. */
int vg_evidence_jpeg(const vg_rgb_image_t *img, int quality, size_t max_bytes, uint8_t **out, size_t *len,
                     int *quality_used);

/* The snapshot (overlay applied: box drawn, crop, or none) and thumbnail
 * (thumbnail_width wide) JPEGs of pic; box may be empty (no overlay).
 * pic is changed when the box is drawn. */
int vg_evidence_render(vg_rgb_image_t *pic, const float box[4], const vg_evidence_opts_t *o, uint8_t **snap,
                       size_t *snap_len, uint8_t **thumb, size_t *thumb_len);

/* Writes data to dir/rel (directories created), through a temporary file
 * renamed into place so that readers never see half a file. */
int vg_evidence_write(const char *dir, const char *rel, const uint8_t *data, size_t len);
/* Removes dir/rel; a missing file is not an error. */
int vg_evidence_remove(const char *dir, const char *rel);

#endif
