#include "api/router.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "base/error.h"

/* Matches one pattern against a path, segment by segment. Parameters are
 * written to req only when the whole path matches. */
static int match_pattern(const char *pattern, const char *path, vg_http_request_t *req) {
  vg_http_param_t params[VG_HTTP_MAX_PARAMS];
  int count = 0;
  const char *p = pattern, *s = path;
  while (*p && *s) {
    if (*p != '/' || *s != '/') return 0;
    p++, s++;
    size_t plen = strcspn(p, "/"), slen = strcspn(s, "/");
    if (plen >= 2 && p[0] == '{' && p[plen - 1] == '}') {
      if (slen == 0 || slen >= VG_HTTP_PARAM_MAX || count == VG_HTTP_MAX_PARAMS) return 0;
      params[count].name = p + 1;
      params[count].name_len = plen - 2;
      memcpy(params[count].value, s, slen);
      params[count].value[slen] = '\0';
      count++;
    } else if (plen != slen || memcmp(p, s, plen) != 0) {
      return 0;
    }
    p += plen, s += slen;
  }
  if (*p || *s) return 0;
  memcpy(req->params, params, (size_t)count * sizeof(params[0]));
  req->param_count = count;
  return 1;
}

static void add_allowed(char *allow, size_t size, const char *method) {
  if (strstr(allow, method)) return;
  size_t len = strlen(allow);
  snprintf(allow + len, size - len, "%s%s", len ? ", " : "", method);
}

int vg_http_route_match(const vg_http_route_t *routes, size_t count, vg_http_request_t *req,
                        const vg_http_route_t **out, char *allow, size_t allow_size) {
  int path_known = 0;
  if (allow_size) allow[0] = '\0';
  for (size_t i = 0; i < count; i++) {
    vg_http_request_t probe = *req;
    if (!match_pattern(routes[i].pattern, req->path, &probe)) continue;
    if (strcmp(routes[i].method, req->method) == 0) {
      *req = probe;
      *out = &routes[i];
      return 0;
    }
    path_known = 1;
    if (allow_size) {
      add_allowed(allow, allow_size, routes[i].method);
      if (strcmp(routes[i].method, "GET") == 0) add_allowed(allow, allow_size, "HEAD");
    }
  }
  return path_known ? VG_EUNSUPPORTED : VG_ENOTFOUND;
}

const char *vg_http_param(const vg_http_request_t *req, const char *name) {
  size_t len = strlen(name);
  for (int i = 0; i < req->param_count; i++)
    if (req->params[i].name_len == len && memcmp(req->params[i].name, name, len) == 0)
      return req->params[i].value;
  return NULL;
}

const char *vg_http_header(const vg_http_request_t *req, vg_http_header_t h) {
  return (unsigned)h < VG_HTTP_HDR__COUNT ? req->headers[h] : NULL;
}

static int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

int vg_http_query(const vg_http_request_t *req, const char *name, char *out, size_t size) {
  size_t name_len = strlen(name);
  const char *p = req->query ? req->query : "";
  while (*p) {
    const char *end = strchr(p, '&');
    if (!end) end = p + strlen(p);
    const char *eq = memchr(p, '=', (size_t)(end - p));
    const char *key_end = eq ? eq : end;
    if ((size_t)(key_end - p) == name_len && memcmp(p, name, name_len) == 0) {
      size_t n = 0;
      for (const char *v = eq ? eq + 1 : end; v < end; v++) {
        char c = *v;
        if (c == '+') {
          c = ' ';
        } else if (c == '%') {
          int hi = v + 2 < end ? hex_value(v[1]) : -1, lo = v + 2 < end ? hex_value(v[2]) : -1;
          if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) return VG_EINVAL;
          c = (char)(hi << 4 | lo);
          v += 2;
        }
        if (n + 1 >= size) return VG_ETOOBIG;
        out[n++] = c;
      }
      out[n] = '\0';
      return (int)n;
    }
    p = *end ? end + 1 : end;
  }
  return VG_ENOTFOUND;
}

void vg_http_response_init(vg_http_response_t *res) {
  memset(res, 0, sizeof(*res));
  res->status = 200;
  res->content_type = "text/plain; charset=utf-8";
  vg_strbuf_init(&res->body, 0);
  vg_strbuf_init(&res->headers, 8192);
}

void vg_http_response_free(vg_http_response_t *res) {
  vg_strbuf_free(&res->body);
  vg_strbuf_free(&res->headers);
  if (res->stream) {
    res->stream->close(res->stream);
    res->stream = NULL;
  }
}

int vg_http_add_header(vg_http_response_t *res, const char *name, const char *fmt, ...) {
  char value[1024];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(value, sizeof(value), fmt, ap);
  va_end(ap);
  if (n < 0 || (size_t)n >= sizeof(value)) return VG_ETOOBIG;
  if (!*name || strpbrk(name, ": \r\n") || strpbrk(value, "\r\n")) return VG_EINVAL;
  return vg_strbuf_printf(&res->headers, "%s: %s\r\n", name, value);
}

static int dump_to_strbuf(const char *buffer, size_t size, void *data) {
  return vg_strbuf_append(data, buffer, size) ? -1 : 0;
}

int vg_http_reply_json(vg_http_response_t *res, int status, json_t *body) {
  if (!body) return VG_ENOMEM;
  vg_strbuf_free(&res->body);
  res->status = status;
  res->content_type = "application/json";
  int rc = json_dump_callback(body, dump_to_strbuf, &res->body, JSON_COMPACT | JSON_ENSURE_ASCII);
  json_decref(body);
  if (rc != 0 || res->body.error) return res->body.error ? res->body.error : VG_ENOMEM;
  return vg_strbuf_append(&res->body, "\n", 1);
}

int vg_http_reply_error(vg_http_response_t *res, int status, const char *code, const char *fmt, ...) {
  char message[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(message, sizeof(message), fmt, ap);
  va_end(ap);
  /* Messages may quote what a client sent (a path parameter); jansson wants
   * valid UTF-8, so anything but printable ASCII becomes '?'. */
  for (char *m = message; *m; m++)
    if ((unsigned char)*m < 0x20 || (unsigned char)*m > 0x7e) *m = '?';
  return vg_http_reply_json(res, status,
                            json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", message));
}

const char *vg_http_status_text(int status) {
  switch (status) {
  case 200: return "OK";
  case 201: return "Created";
  case 204: return "No Content";
  case 206: return "Partial Content";
  case 304: return "Not Modified";
  case 400: return "Bad Request";
  case 401: return "Unauthorized";
  case 403: return "Forbidden";
  case 404: return "Not Found";
  case 405: return "Method Not Allowed";
  case 409: return "Conflict";
  case 413: return "Content Too Large";
  case 416: return "Range Not Satisfiable";
  case 429: return "Too Many Requests";
  case 500: return "Internal Server Error";
  case 503: return "Service Unavailable";
  }
  return "Unknown";
}
