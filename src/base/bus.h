/*
 * bus.h: a small in-process event bus.
 *
 * A publisher hands the bus a message under a topic (a string such as
 * "analytics.trigger"); every subscriber whose pattern matches the topic gets
 * it, later and on another thread: its callback never runs on the
 * publisher's thread, so a slow subscriber cannot stall the video path.
 *
 *  - Messages are refcounted and read-only once published. The bus takes
 *    ownership of the payload (data) and calls free_fn(data) after the last
 *    subscriber is done with it (or at once if nobody subscribed).
 *  - Each subscriber has a bounded queue (queue_len messages). A message
 *    that finds the queue full is dropped for that subscriber and counted
 *    (vg_bus_sub_stats, and the bus-wide vg_bus_stats); publishing never
 *    blocks on a subscriber.
 *  - Delivery: by default one dispatcher thread of the bus drains every
 *    subscriber's queue in publishing order. A subscriber that lives on an
 *    I/O worker gives a post function instead (opts.post/post_target, e.g. a
 *    two-line wrapper of vg_worker_post for its worker; base does not depend
 *    on net); its queue is then drained by one task posted per burst, not
 *    per message, so its callback runs on its own loop and may touch its
 *    handles.
 *  - Patterns: an exact topic, a prefix ending in '*' ("analytics.*"), or
 *    "*" for everything.
 *
 * Message payloads are defined by the publishing module, next to its topic
 * names (analytics: src/analytics/analytics.h).
 *
 * Threads: everything may be called from any thread. vg_bus_unsubscribe()
 * waits for a callback of that subscriber that is running on another thread;
 * after it returns the callback is never called again. It may be called from
 * the subscriber's own callback. vg_bus_free() must not race with publish.
 */
#ifndef VG_BASE_BUS_H
#define VG_BASE_BUS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

typedef struct vg_bus vg_bus_t;
typedef struct vg_bus_sub vg_bus_sub_t;

/* One published message: shared by every subscriber that received it. */
typedef struct {
  char topic[64];
  void *data;              /* the payload; its type follows from the topic */
  void (*free_fn)(void *); /* frees data (NULL: nothing to free) */
  int64_t publish_us;      /* vg_time_mono_us() at publishing */
  uint64_t seq;            /* per bus, increasing in publishing order */
  atomic_int refs;         /* private */
} vg_bus_msg_t;

typedef void (*vg_bus_fn)(void *opaque, const vg_bus_msg_t *msg);

typedef struct {
  uint32_t queue_len; /* messages queued at most (default 256) */
  /* NULL: the bus's dispatcher thread delivers. Otherwise the bus calls
   * post(post_target, drain, arg) to have drain(arg) run on the subscriber's
   * thread; post returns 0, or an error when that thread is gone (the
   * queue is then dropped and counted). */
  int (*post)(void *post_target, void (*drain)(void *), void *arg);
  void *post_target;
} vg_bus_sub_opts_t;

/* Creates a bus and starts its dispatcher thread. */
int vg_bus_new(vg_bus_t **out);
/* Stops the dispatcher and lets go of the bus; *bus = NULL. Subscribers
 * still subscribed get nothing more and must still call
 * vg_bus_unsubscribe(), which frees the last of it. */
void vg_bus_free(vg_bus_t **bus);

/* Subscribes fn to topics matching pattern (copied; at most 63 bytes).
 * opts may be NULL. Returns 0 and *out, VG_EINVAL or VG_ENOMEM. */
int vg_bus_subscribe(vg_bus_t *bus, const char *pattern, const vg_bus_sub_opts_t *opts, vg_bus_fn fn,
                     void *opaque, vg_bus_sub_t **out);
/* See the threads note above. Sets *sub = NULL. */
void vg_bus_unsubscribe(vg_bus_sub_t **sub);

/* Publishes data under topic; the bus owns data from now on, whatever the
 * result (free_fn is called once nobody needs it). Returns the number of
 * subscribers it was queued for (0: nobody listened or every queue was
 * full), or VG_EINVAL / VG_ENOMEM. */
int vg_bus_publish(vg_bus_t *bus, const char *topic, void *data, void (*free_fn)(void *));

typedef struct {
  uint64_t delivered; /* callbacks run */
  uint64_t dropped;   /* messages lost to a full queue */
  uint32_t queued;    /* waiting now */
} vg_bus_sub_stats_t;
void vg_bus_sub_stats(vg_bus_sub_t *sub, vg_bus_sub_stats_t *out);

typedef struct {
  uint64_t published;
  uint64_t delivered;
  uint64_t dropped; /* all subscribers, including gone ones */
  int subscribers;
} vg_bus_stats_t;
void vg_bus_stats(vg_bus_t *bus, vg_bus_stats_t *out);

#endif
