/* A port for a server a unit test starts. Drawn at random below the kernel's
 * ephemeral range (so no outgoing connection of a test running beside this
 * one takes it) and above the RTSP server's default RTP ports; a bind can
 * still lose to another test, so callers start their server in a loop:
 *
 *   for (int i = 0; i < 20; i++) if (start(cfg.port = vg_test_port()) == 0) break;
 *
 * The black-box tests claim 30000-32767 (tests/integration/conftest.py,
 * tests/browser/harness.mjs); unit tests take TCP ports 29000-29999 (the
 * RTSP server's RTP ports there are UDP ones). */
#ifndef VG_TEST_PORTS_H
#define VG_TEST_PORTS_H

#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static inline int vg_test_port(void) {
  static unsigned seed;
  if (!seed) seed = (unsigned)time(NULL) ^ ((unsigned)getpid() << 8);
  return 29000 + (int)(rand_r(&seed) % 1000);
}

#endif
