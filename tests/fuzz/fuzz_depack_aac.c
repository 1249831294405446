/* Fuzzes the AAC (RFC 3640) depacketizer with several AU-header layouts;
 * see depack_fuzz.h for the input format. The first byte picks the fmtp.
 * Only the AAC-hbr 13/3/3 layout is also the packetizer's, so only that one
 * is round-tripped. */
#include "depack_fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  static const vg_track_t track = {.codec = VG_CODEC_AAC, .clock_rate = 48000};
  static const char *const fmtps[8] = {
      "mode=AAC-hbr;sizelength=13;indexlength=3;indexdeltalength=3;config=1190",
      "mode=AAC-lbr;sizelength=6;indexlength=2;indexdeltalength=2",
      "mode=AAC-hbr;sizelength=13;indexlength=3;indexdeltalength=3;ctsdeltalength=7;dtsdeltalength=9",
      ("mode=AAC-hbr;sizelength=13;indexlength=3;indexdeltalength=3;randomaccessindication=1;"
       "streamstateindication=4"),
      "mode=AAC-hbr;sizelength=13;indexlength=3;indexdeltalength=3;auxiliarydatasizelength=12",
      "mode=AAC-hbr",
      "sizelength=16;indexlength=8;indexdeltalength=8;constantduration=960",
      "sizelength=1;indexlength=0;indexdeltalength=0",
  };
  static const char *hbr = "mode=AAC-hbr;sizelength=13;indexlength=3;indexdeltalength=3";
  return fz_run(&track, fmtps[data[0] & 7], hbr, 0, (data[0] & 8) ? 700 : 0, data + 1, size - 1);
}
