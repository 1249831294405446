/*
 * scene.h: camsim's scripted scenes with ground truth, for testing the
 * analytics pipeline end to end.
 *
 * A scene (a JSON file, docs/ANALYTICS.md "Scene files") is a background
 * picture and sprites, cut out of real photos or video frames, that move
 * along waypoints with timing; plus the tripwires and zones whose ground
 * truth the scene computes: when each sprite's foot point (the bottom
 * centre of its picture, where analytics measures presence) crosses a line
 * and in which direction, and when it enters and leaves each zone.
 *
 * The scene is rendered once, frame by frame, into a temporary raw video
 * file (YUV4MPEG2) that the clip encoder (clip.h) reads like any video
 * source; the temporary file is removed afterwards. Images are read at run
 * time (libavformat: JPEG, PNG, video frames); no media is stored in the
 * repository.
 *
 * The scene parser reads a local file given on the command line; it is
 * bounded anyway (sprites, waypoints, sensors and polygon sizes have
 * maxima, every crop is checked against its image).
 *
 * Threads: one thread at a time per scene; no global state.
 */
#ifndef VG_SIM_SCENE_H
#define VG_SIM_SCENE_H

#include <jansson.h>
#include <stddef.h>

#include "sim/clip.h"

/* Where bare image names are looked up (Debian's opencv-doc sample data). */
#define VG_SCENE_DATA_DIR "/usr/share/doc/opencv-doc/examples/data"

typedef struct vg_scene vg_scene_t;

/* Parses a scene from JSON text; base_dir resolves relative image paths
 * (may be NULL). Images are loaded here. Returns 0, VG_EINVAL (a message in
 * err), VG_ENOENT (an image is missing) or VG_ENOMEM. */
int vg_scene_parse(const char *json_text, const char *base_dir, vg_scene_t **out, char *err, size_t errlen);
/* Reads and parses a scene file. */
int vg_scene_load(const char *path, vg_scene_t **out, char *err, size_t errlen);
void vg_scene_free(vg_scene_t **scene);

/* The clip parameters the scene asks for (size, fps, gop, duration), on
 * top of the defaults; source and cache stay unset. */
void vg_scene_clip_params(const vg_scene_t *s, vg_clip_params_t *p);
int vg_scene_frame_count(const vg_scene_t *s);

/* Renders frame index (0 .. frame_count - 1) into Y, U and V planes of the
 * scene's size (4:2:0, strides given). */
void vg_scene_render(const vg_scene_t *s, int index, uint8_t *const planes[3], const int strides[3]);

/* Renders the scene into a temporary YUV4MPEG2 file and encodes it with
 * the clip encoder (p: codec and bitrate; size, fps, gop and duration come
 * from the scene). */
int vg_scene_encode(const vg_scene_t *s, const vg_clip_params_t *p, vg_clip_t **out);

/* The ground truth, as JSON (docs/ANALYTICS.md): the scene's length, its
 * sensors, and the events of one loop in time order:
 *   {"kind":"line_cross","sensor":ID,"direction":"a_to_b"|"b_to_a","sprite":ID,"t":S}
 *   {"kind":"enter"|"exit","sensor":ID,"sprite":ID,"t":S}
 * Times in seconds from the clip start. Returns a new reference or NULL. */
json_t *vg_scene_ground_truth(const vg_scene_t *s);

#endif
