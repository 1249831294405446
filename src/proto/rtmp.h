/*
 * rtmp.h: RTMP (Adobe's Real-Time Messaging Protocol, version 3), sans I/O:
 * the plain handshake, the chunk stream (parser and writer), protocol
 * control and user control messages, and the AMF0 command messages that
 * publishers and players exchange (connect, createStream, publish, play,
 * deleteStream, releaseStream, FCPublish, _result, _error, onStatus).
 *
 * Byte flow: the caller feeds received bytes to vg_rtmp_read() and sends
 * what the vg_rtmp_write*() functions produce. The reader applies the
 * chunk-layer messages itself (Set Chunk Size, Abort, Window Acknowledgement
 * Size) and says when an Acknowledgement is due; everything else is the
 * caller's. The flash-player "complex" handshake (HMAC digests) is not
 * implemented: servers and clients here use the plain one, which FFmpeg,
 * OBS and nginx-rtmp accept.
 *
 * Limits: a message is at most max_message bytes (reader's argument), at
 * most VG_RTMP_MAX_CHUNK_STREAMS chunk streams are open at once, chunk sizes
 * are 1..VG_RTMP_MAX_CHUNK_SIZE. Anything else is VG_EPROTO or VG_ETOOBIG.
 *
 * Ownership: a completed message's payload is a vg_buf_t that the reader
 * hands over (the caller unrefs it). A reader or writer belongs to one
 * connection and is used from one thread.
 */
#ifndef VG_PROTO_RTMP_H
#define VG_PROTO_RTMP_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "proto/amf0.h"

#define VG_RTMP_HANDSHAKE_SIZE 1536
#define VG_RTMP_DEFAULT_CHUNK_SIZE 128
#define VG_RTMP_MAX_CHUNK_SIZE (1u << 20)
#define VG_RTMP_MAX_CHUNK_STREAMS 16
/* The largest chunk header: 3-byte basic header, 11-byte message header,
 * 4-byte extended timestamp. */
#define VG_RTMP_MAX_CHUNK_HEADER 18

enum {
  VG_RTMP_MSG_SET_CHUNK_SIZE = 1,
  VG_RTMP_MSG_ABORT = 2,
  VG_RTMP_MSG_ACK = 3,
  VG_RTMP_MSG_USER_CONTROL = 4,
  VG_RTMP_MSG_WINDOW_ACK_SIZE = 5,
  VG_RTMP_MSG_SET_PEER_BW = 6,
  VG_RTMP_MSG_AUDIO = 8,
  VG_RTMP_MSG_VIDEO = 9,
  VG_RTMP_MSG_DATA_AMF3 = 15,
  VG_RTMP_MSG_COMMAND_AMF3 = 17,
  VG_RTMP_MSG_DATA_AMF0 = 18,
  VG_RTMP_MSG_COMMAND_AMF0 = 20,
  VG_RTMP_MSG_AGGREGATE = 22,
};

enum {
  VG_RTMP_UC_STREAM_BEGIN = 0,
  VG_RTMP_UC_STREAM_EOF = 1,
  VG_RTMP_UC_STREAM_DRY = 2,
  VG_RTMP_UC_SET_BUFFER_LENGTH = 3,
  VG_RTMP_UC_STREAM_IS_RECORDED = 4,
  VG_RTMP_UC_PING_REQUEST = 6,
  VG_RTMP_UC_PING_RESPONSE = 7,
};

/* Chunk stream ids by convention: control, commands, and media. */
enum { VG_RTMP_CSID_CONTROL = 2, VG_RTMP_CSID_COMMAND = 3, VG_RTMP_CSID_AUDIO = 4, VG_RTMP_CSID_VIDEO = 6 };

/* ---- handshake ---- */

/* Server: from the client's C0+C1 (2 * ... = 1 + 1536 bytes), writes S0+S1+S2
 * (1 + 2 * 1536 bytes) to out. seed varies S1's random bytes. Returns the
 * bytes written, VG_EINCOMPLETE if c0c1 is short, VG_EUNSUPPORTED for a
 * version other than 3. The client's C2 (1536 bytes) then follows; the
 * server reads and ignores it. */
int vg_rtmp_handshake_server(const uint8_t *c0c1, size_t len, uint32_t seed, uint8_t *out, size_t cap);
/* Client: writes C0+C1 (1537 bytes) to out. Returns the bytes written. */
int vg_rtmp_handshake_client_hello(uint32_t seed, uint8_t *out, size_t cap);
/* Client: from S0+S1+S2 (3073 bytes), writes C2 (an echo of S1) to out.
 * Returns 1536, VG_EINCOMPLETE or VG_EUNSUPPORTED. */
int vg_rtmp_handshake_client_reply(const uint8_t *s0s1s2, size_t len, uint8_t *out, size_t cap);

/* ---- chunk stream: reading ---- */

typedef struct {
  uint32_t csid;
  uint32_t timestamp; /* of the message being assembled (32-bit, wraps) */
  uint32_t delta;     /* the last timestamp delta (fmt 1/2/3) */
  uint32_t length;
  uint32_t stream_id;
  uint8_t type;
  uint8_t ext; /* the last header used an extended timestamp */
  uint8_t open;
  uint32_t got; /* bytes of the message received */
  vg_buf_t *buf;
} vg_rtmp_cs_t;

typedef struct {
  uint8_t type;
  uint32_t stream_id;
  uint32_t timestamp; /* milliseconds, 32-bit wrapping */
  uint32_t csid;
  vg_buf_t *buf; /* owned by the receiver; payload is buf->data[0..buf->len) */
} vg_rtmp_msg_t;

typedef struct {
  uint32_t chunk_size;  /* the peer's */
  uint32_t max_message; /* bound on a message's length */
  uint32_t window;      /* the peer's Window Acknowledgement Size, 0 = none */
  uint64_t bytes;       /* consumed so far */
  uint64_t acked;       /* bytes when the last Acknowledgement was due */
  vg_rtmp_cs_t cs[VG_RTMP_MAX_CHUNK_STREAMS];
} vg_rtmp_reader_t;

void vg_rtmp_reader_init(vg_rtmp_reader_t *r, uint32_t max_message);
/* Drops partial messages. */
void vg_rtmp_reader_free(vg_rtmp_reader_t *r);
/* Parses one chunk at data[0..len). Returns 1 when it completed a message
 * (*msg filled, its buffer now the caller's), 0 when it was consumed
 * without completing one, VG_EINCOMPLETE when data does not hold a whole
 * chunk (nothing consumed, state unchanged), or VG_EPROTO / VG_ETOOBIG /
 * VG_ENOMEM. *used is the bytes consumed. Set Chunk Size, Abort and Window
 * Acknowledgement Size messages are applied here and also returned. */
int vg_rtmp_read(vg_rtmp_reader_t *r, const uint8_t *data, size_t len, size_t *used, vg_rtmp_msg_t *msg);
/* Whether an Acknowledgement is due (the peer's window has passed since the
 * last); then *seq is the sequence number to send and 1 is returned. */
int vg_rtmp_reader_ack_due(vg_rtmp_reader_t *r, uint32_t *seq);

/* ---- chunk stream: writing ---- */

typedef struct {
  uint32_t chunk_size; /* ours: changed by writing a Set Chunk Size */
  struct {
    uint32_t csid, stream_id, length, timestamp, delta;
    uint8_t type, valid;
  } cs[8];
} vg_rtmp_writer_t;

void vg_rtmp_writer_init(vg_rtmp_writer_t *w);
/* An upper bound on the bytes vg_rtmp_write() needs for len payload bytes. */
size_t vg_rtmp_write_bound(const vg_rtmp_writer_t *w, size_t len);
/* Writes one message as chunks (the header compressed against the last
 * message on the same chunk stream: fmt 0, 1 or 2, then fmt 3 for
 * continuations; extended timestamps as needed). Returns the bytes written
 * or VG_ETOOBIG / VG_EINVAL (csid outside 2..65599). */
int vg_rtmp_write(vg_rtmp_writer_t *w, uint32_t csid, uint8_t type, uint32_t stream_id, uint32_t timestamp,
                  const uint8_t *payload, size_t len, uint8_t *out, size_t cap);
/* Set Chunk Size (then used for what follows), Acknowledgement, Window
 * Acknowledgement Size, Abort: a message with one 32-bit value. */
int vg_rtmp_write_control(vg_rtmp_writer_t *w, uint8_t type, uint32_t value, uint8_t *out, size_t cap);
/* Set Peer Bandwidth (limit: 0 hard, 1 soft, 2 dynamic). */
int vg_rtmp_write_peer_bw(vg_rtmp_writer_t *w, uint32_t window, uint8_t limit, uint8_t *out, size_t cap);
/* A user control event with one value (and a second one for Set Buffer
 * Length, ignored otherwise). */
int vg_rtmp_write_user_control(vg_rtmp_writer_t *w, uint16_t event, uint32_t value, uint32_t value2,
                               uint8_t *out, size_t cap);
/* When msg is a user control Ping Request, writes its Ping Response into
 * out and returns the length; returns 0 for any other message (or an
 * error from the writer). Both ends of a connection answer pings. */
int vg_rtmp_answer_ping(vg_rtmp_writer_t *w, const vg_rtmp_msg_t *msg, uint8_t *out, size_t cap);

/* ---- commands ---- */

typedef struct {
  char name[64];
  double txn;
  vg_amf0_doc_t doc;
  const vg_amf0_value_t *obj;    /* the command object (may be NULL or an AMF0 null) */
  const vg_amf0_value_t *arg[4]; /* the values after it */
  int nargs;
} vg_rtmp_command_t;

/* Parses an AMF0 command (or data) message: name, transaction id, command
 * object, arguments. A data message (@setDataFrame, onMetaData) has no
 * transaction id: txn is then 0 and the values follow as arguments.
 * Returns 0, VG_EPROTO, VG_ETOOBIG or VG_EUNSUPPORTED. */
int vg_rtmp_command_parse(const uint8_t *p, size_t len, int is_data, vg_rtmp_command_t *cmd);

/* AMF0 payloads of the usual commands (write them with vg_rtmp_write on
 * VG_RTMP_CSID_COMMAND as VG_RTMP_MSG_COMMAND_AMF0). */
void vg_rtmp_amf_connect(vg_amf0_writer_t *aw, double txn, const char *app, const char *tc_url);
void vg_rtmp_amf_connect_result(vg_amf0_writer_t *aw, double txn);
/* name(txn, null, [arg]): createStream, releaseStream, FCPublish,
 * deleteStream (numeric stream id in num when str is NULL and has_num). */
void vg_rtmp_amf_call(vg_amf0_writer_t *aw, const char *name, double txn, const char *str);
void vg_rtmp_amf_call_num(vg_amf0_writer_t *aw, const char *name, double txn, double num);
/* publish(txn, null, name, type) and play(txn, null, name, -2000). */
void vg_rtmp_amf_publish(vg_amf0_writer_t *aw, double txn, const char *stream, const char *type);
void vg_rtmp_amf_play(vg_amf0_writer_t *aw, double txn, const char *stream);
/* _result(txn, null, value) with a number, or with null when has_value is 0. */
void vg_rtmp_amf_result(vg_amf0_writer_t *aw, double txn, int has_value, double value);
/* _error(txn, null, {level error, code, description}). */
void vg_rtmp_amf_error(vg_amf0_writer_t *aw, double txn, const char *code, const char *description);
/* onStatus(0, null, {level, code, description}). */
void vg_rtmp_amf_on_status(vg_amf0_writer_t *aw, const char *level, const char *code,
                           const char *description);

/* ---- URLs ---- */

typedef struct {
  char host[256];
  uint16_t port;    /* 1935 by default */
  char app[128];    /* the first path segment */
  char stream[512]; /* the rest, query included */
  char tc_url[640]; /* rtmp://host[:port]/app */
} vg_rtmp_url_t;

/* Parses rtmp://host[:port]/app/stream. Credentials are not supported.
 * Returns 0, VG_EINVAL or VG_ETOOBIG. */
int vg_rtmp_url_parse(const char *url, vg_rtmp_url_t *out);

/* ---- stream key queries ---- */

/* Copies the percent-decoded value of key in a "a=1&b=2" query (the part of
 * a publisher's stream key after '?', e.g. "user=cam&pass=s%40cret") into
 * out. Returns the value's length, VG_ENOTFOUND, VG_EINVAL for an escaped
 * NUL, or VG_ETOOBIG when it does not fit; out is "" on every error. A '%'
 * without two hex digits after it is kept as it is. */
int vg_rtmp_query_value(const char *query, const char *key, char *out, size_t size);

#endif
