// bench/loadgen: the compiled load generator of the end-to-end echo suites. A Node client spends
// most of its core on its own event loop and caps the rates it can measure; this one is C on epoll,
// single-threaded, so it keeps headroom on its core and the server is what gets measured.
//
// Protocol (default): a 4-byte big-endian length and a payload, echoed back whole.
// Closed loop with an exact window: every connection keeps exactly `inflight` requests outstanding;
// each completed reply is replaced by one new request, written in one write per read batch.
// Every reply byte is verified: request k of a connection carries k in its first 8 payload bytes
// (when the payload has 8), the rest is a fixed pattern, so a lost, duplicated, reordered or
// corrupted frame fails the run.
// Latency: per request, from the write that carried it to the read that completed its reply, into a
// log-linear histogram (1/64 relative precision): p50, p99, p99.9.
//
// With --pid P it also reads the server's CPU (utime+stime from /proc/P/stat) and syscalls
// (syscr/syscw from /proc/P/io) at the exact edges of the measured window.
//
// Protocols (--proto): echo (the default, above); rpc-framed and rpc-stream, MessagePack-RPC with and
// without a 4-byte big-endian length prefix: request [0, id, method, [bin size]], reply
// [1, id, nil, bin size], the id a uint32 with its top bit set, so that every message has one
// length; ws, one binary WebSocket frame per message (masked from here, unmasked back) after an
// HTTP upgrade to --path. Replies must come in request order (true of a synchronous handler), and
// nothing else may arrive (a WebSocket ping fails the run).
//
// Usage: loadgen --port P [--host 127.0.0.1] [--connections 50] [--inflight 1] [--size 128]
//                [--duration 3] [--warmup 1] [--pid P]
//                [--proto echo|rpc-framed|rpc-stream|ws] [--method echo] [--path /]
//        loadgen ... --requests N [--warmup-requests W] [--on-start CMD] [--on-end CMD]
//                                                  a counted window instead of a timed one
//        loadgen --idle --port P --connections N   one echo per connection, prints {"ready":N},
//                                                  then holds the connections until stdin closes
// Prints one JSON line on stdout; exit 1 on a verification error or a connection failure.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

typedef struct {
  int fd;
  uint64_t sent;      // requests whose bytes were all handed to write()
  uint64_t owed;      // requests due but not yet (fully) written
  uint64_t out_off;   // bytes of request `sent` already written
  uint64_t done;      // replies completed
  uint64_t in_off;    // bytes of reply `done` received so far
  uint64_t *stamps;   // ring of write times (ns), indexed by request number % inflight
  int want_out;       // EPOLLOUT armed
} conn_t;

static uint32_t size = 128;
static int inflight = 1;
static int verify_errors = 0;

// ---- the protocol: request k and reply k are templates with a per-request sequence field.
// Echo: the length-prefixed payload, sequence k in its first 8 bytes (little-endian), reply equal.
// MessagePack-RPC: request [0, id, method, [bin]], reply [1, id, nil, bin], the id a msgpack uint32
// with its top bit set (so it always takes 5 bytes), with or without a 4-byte length prefix.
// WebSocket: one binary frame per message, masked from the client, unmasked back.
typedef struct {
  uint8_t *tmpl;
  uint32_t len;
  uint32_t seq_off, seq_w; // where the sequence field is; width 0: none
  int be31;                // a big-endian uint32 with the top bit set; else 8 bytes little-endian
  uint8_t mask[8];         // XORed over the field (a WebSocket client frame's masking)
} side_t;
static side_t req, rep;

static void seq_field(const side_t *s, uint64_t k, uint8_t *out) {
  if (s->be31) {
    uint32_t id = 0x80000000u | (uint32_t)(k & 0x7fffffffu);
    out[0] = (uint8_t)(id >> 24), out[1] = (uint8_t)(id >> 16), out[2] = (uint8_t)(id >> 8), out[3] = (uint8_t)id;
  } else {
    for (int i = 0; i < 8; i++) out[i] = (uint8_t)(k >> (8 * i));
  }
  for (uint32_t i = 0; i < s->seq_w; i++) out[i] ^= s->mask[i];
}
// Fills dst with bytes [off, off+n) of message k of a side (n <= len - off).
static void side_bytes(const side_t *s, uint64_t k, uint64_t off, uint8_t *dst, uint64_t n) {
  memcpy(dst, s->tmpl + off, n);
  uint64_t f0 = s->seq_off, f1 = s->seq_off + s->seq_w;
  if (s->seq_w == 0 || off >= f1 || off + n <= f0) return;
  uint8_t f[8];
  seq_field(s, k, f);
  for (uint64_t o = off > f0 ? off : f0; o < f1 && o < off + n; o++) dst[o - off] = f[o - f0];
}
// Compares src with bytes [off, off+n) of message k of a side; 0 when equal.
static int side_check(const side_t *s, uint64_t k, uint64_t off, const uint8_t *src, uint64_t n) {
  uint64_t f0 = s->seq_off, f1 = s->seq_off + s->seq_w;
  if (s->seq_w == 0 || off >= f1 || off + n <= f0) return memcmp(s->tmpl + off, src, n) != 0;
  uint8_t tmp[16];
  uint64_t a = off > f0 ? off : f0, b = off + n < f1 ? off + n : f1; // the field's part in range
  if (a > off && memcmp(s->tmpl + off, src, a - off) != 0) return 1;
  side_bytes(s, k, a, tmp, b - a);
  if (memcmp(tmp, src + (a - off), b - a) != 0) return 1;
  return off + n > b && memcmp(s->tmpl + b, src + (b - off), off + n - b) != 0;
}

static uint8_t pattern(uint32_t i) { return (uint8_t)(i * 31 + 7); }

// A msgpack bin header for n bytes; returns its length.
static uint32_t bin_header(uint8_t *d, uint32_t n) {
  if (n < 256) { d[0] = 0xc4, d[1] = (uint8_t)n; return 2; }
  if (n < 65536) { d[0] = 0xc5, d[1] = (uint8_t)(n >> 8), d[2] = (uint8_t)n; return 3; }
  d[0] = 0xc6, d[1] = (uint8_t)(n >> 24), d[2] = (uint8_t)(n >> 16), d[3] = (uint8_t)(n >> 8), d[4] = (uint8_t)n;
  return 5;
}
static void put_be32(uint8_t *d, uint32_t v) { d[0] = (uint8_t)(v >> 24), d[1] = (uint8_t)(v >> 16), d[2] = (uint8_t)(v >> 8), d[3] = (uint8_t)v; }

static void build_echo(void) {
  req.len = rep.len = 4 + size;
  req.tmpl = malloc(req.len);
  put_be32(req.tmpl, size);
  for (uint32_t i = 0; i < size; i++) req.tmpl[4 + i] = pattern(i);
  if (size >= 8) req.seq_off = 4, req.seq_w = 8;
  rep = req;
}

// [0, id, method, [bin size]] and [1, id, nil, bin size]; framed: a 4-byte big-endian length first.
static int build_rpc(int framed, const char *method) {
  size_t mlen = strlen(method);
  if (mlen > 31) return -1;
  uint32_t pre = framed ? 4 : 0, bh = size < 256 ? 2 : size < 65536 ? 3 : 5;
  req.len = pre + 1 + 1 + 5 + 1 + (uint32_t)mlen + 1 + bh + size;
  rep.len = pre + 1 + 1 + 5 + 1 + bh + size;
  req.tmpl = malloc(req.len), rep.tmpl = malloc(rep.len);
  uint8_t *q = req.tmpl + pre, *r = rep.tmpl + pre;
  *q++ = 0x94, *q++ = 0x00, *q++ = 0xce, q += 4;
  *q++ = (uint8_t)(0xa0 | mlen), memcpy(q, method, mlen), q += mlen;
  *q++ = 0x91, q += bin_header(q, size);
  *r++ = 0x94, *r++ = 0x01, *r++ = 0xce, r += 4, *r++ = 0xc0, r += bin_header(r, size);
  for (uint32_t i = 0; i < size; i++) q[i] = r[i] = pattern(i);
  if (framed) put_be32(req.tmpl, req.len - 4), put_be32(rep.tmpl, rep.len - 4);
  req.seq_off = pre + 3, rep.seq_off = pre + 3;
  req.seq_w = rep.seq_w = 4;
  req.be31 = rep.be31 = 1;
  return 0;
}

// One binary frame: masked (the client's) or not (the server's). Returns the header length.
static uint32_t ws_header(uint8_t *d, uint32_t n, const uint8_t *mask) {
  uint32_t h = 0;
  d[h++] = 0x82;
  uint8_t m = mask ? 0x80 : 0;
  if (n < 126) d[h++] = m | (uint8_t)n;
  else if (n < 65536) d[h++] = m | 126, d[h++] = (uint8_t)(n >> 8), d[h++] = (uint8_t)n;
  else {
    d[h++] = m | 127;
    for (int i = 7; i >= 0; i--) d[h++] = i < 4 ? (uint8_t)(n >> (8 * i)) : 0;
  }
  if (mask) memcpy(d + h, mask, 4), h += 4;
  return h;
}
static const uint8_t WS_MASK[4] = {0x3a, 0x91, 0x5c, 0xe7};
static void build_ws(void) {
  uint8_t hq[14], hr[14];
  uint32_t lq = ws_header(hq, size, WS_MASK), lr = ws_header(hr, size, NULL);
  req.len = lq + size, rep.len = lr + size;
  req.tmpl = malloc(req.len), rep.tmpl = malloc(rep.len);
  memcpy(req.tmpl, hq, lq), memcpy(rep.tmpl, hr, lr);
  for (uint32_t i = 0; i < size; i++) rep.tmpl[lr + i] = pattern(i), req.tmpl[lq + i] = pattern(i) ^ WS_MASK[i % 4];
  if (size >= 8) {
    req.seq_off = lq, rep.seq_off = lr, req.seq_w = rep.seq_w = 8;
    for (int i = 0; i < 8; i++) req.mask[i] = WS_MASK[i % 4];
  }
}

static uint8_t *outbuf;
static size_t outcap;

// Writes what the connection owes; arms EPOLLOUT when the socket would block.
static int flush_conn(int ep, conn_t *c, int measuring) {
  while (c->owed > 0) {
    size_t len = 0;
    uint64_t k = c->sent, off = c->out_off, left = c->owed;
    while (left > 0 && len < outcap) {
      uint64_t n = req.len - off;
      if (n > outcap - len) n = outcap - len;
      side_bytes(&req, k, off, outbuf + len, n);
      len += n;
      off += n;
      if (off == req.len) off = 0, k++, left--;
    }
    ssize_t w = write(c->fd, outbuf, len);
    if (w < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      if (errno == EINTR) continue;
      return -1;
    }
    uint64_t t = measuring ? now_ns() : 0;
    // Advance by what the kernel took: whole requests get their write time stamped.
    uint64_t adv = (uint64_t)w;
    while (adv > 0) {
      uint64_t n = req.len - c->out_off;
      if (adv < n) { c->out_off += adv; break; }
      adv -= n;
      c->out_off = 0;
      c->stamps[c->sent % (uint64_t)inflight] = t;
      c->sent++;
      c->owed--;
    }
    if ((size_t)w < len) break;
  }
  int want = c->owed > 0;
  if (want != c->want_out) {
    struct epoll_event ev = {.events = EPOLLIN | (want ? EPOLLOUT : 0), .data.ptr = c};
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
    c->want_out = want;
  }
  return 0;
}

static uint8_t inbuf[256 * 1024];
static uint64_t completed_total;

// Reads what is there, verifies it, counts replies; returns replies completed, -1 on failure.
static long read_conn(conn_t *c, int measuring) {
  long replies = 0;
  uint64_t t = 0;
  for (;;) {
    ssize_t r = read(c->fd, inbuf, sizeof inbuf);
    if (r < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      if (errno == EINTR) continue;
      return -1;
    }
    if (r == 0) return -1;
    if (measuring && t == 0) t = now_ns();
    uint64_t pos = 0, n = (uint64_t)r;
    while (pos < n) {
      uint64_t take = rep.len - c->in_off;
      if (take > n - pos) take = n - pos;
      if (side_check(&rep, c->done, c->in_off, inbuf + pos, take)) {
        verify_errors++;
        return -1;
      }
      pos += take;
      c->in_off += take;
      if (c->in_off == rep.len) {
        if (c->done >= c->sent) { verify_errors++; return -1; } // a reply to nothing
        if (measuring) {
          uint64_t s = c->stamps[c->done % (uint64_t)inflight];
          if (s) hist_add(t - s);
          completed_total++;
        }
        c->in_off = 0;
        c->done++;
        replies++;
      }
    }
    if ((size_t)r < sizeof inbuf) break;
  }
  return replies;
}

static const char *ws_path = NULL; // set: WebSocket, upgrade each connection first

// The opening handshake, blocking (before the measured loop): a fixed key, whose accept value the
// server must send back (RFC 6455, section 1.3).
static int ws_upgrade(int fd, const char *host, int port) {
  char buf[1024];
  int n = snprintf(buf, sizeof buf,
                   "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                   "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
                   ws_path, host, port);
  if (write(fd, buf, (size_t)n) != n) return -1;
  size_t got = 0;
  while (got < sizeof buf - 1) {
    ssize_t r = read(fd, buf + got, 1); // byte by byte: nothing past the headers may be consumed
    if (r <= 0) return -1;
    got += (size_t)r;
    buf[got] = 0;
    if (got >= 4 && memcmp(buf + got - 4, "\r\n\r\n", 4) == 0) break;
  }
  if (strncmp(buf, "HTTP/1.1 101", 12) != 0 || strstr(buf, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") == NULL) {
    fprintf(stderr, "loadgen: the WebSocket upgrade was refused: %.80s\n", buf);
    errno = EPROTO;
    return -1;
  }
  return 0;
}

static int connect_one(struct sockaddr_in *addr, const char *host, int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  if (connect(fd, (struct sockaddr *)addr, sizeof *addr) < 0) { close(fd); return -1; }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (ws_path != NULL && ws_upgrade(fd, host, port) < 0) { close(fd); return -1; }
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  return fd;
}

static int flag(int argc, char **argv, const char *name) {
  for (int i = 1; i < argc; i++)
    if (strcmp(argv[i], name) == 0) return 1;
  return 0;
}

int main(int argc, char **argv) {
  const char *host = arg(argc, argv, "--host", "127.0.0.1");
  int port = atoi(arg(argc, argv, "--port", "0"));
  int nconn = atoi(arg(argc, argv, "--connections", "50"));
  inflight = atoi(arg(argc, argv, "--inflight", "1"));
  size = (uint32_t)strtoul(arg(argc, argv, "--size", "128"), NULL, 10);
  int idle = flag(argc, argv, "--idle");
  uint64_t replies_all = 0; // counted mode: the window opens after --warmup-requests replies
  if (port <= 0 || nconn <= 0 || inflight <= 0) { fprintf(stderr, "loadgen: --port, --connections, --inflight must be positive\n"); return 2; }
  if (idle) inflight = 1;

  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) { rl.rlim_cur = rl.rlim_max; setrlimit(RLIMIT_NOFILE, &rl); }

  const char *proto = arg(argc, argv, "--proto", "echo");
  if (strcmp(proto, "echo") == 0) build_echo();
  else if (strcmp(proto, "rpc-framed") == 0 || strcmp(proto, "rpc-stream") == 0) {
    if (build_rpc(proto[4] == 'f', arg(argc, argv, "--method", "echo")) < 0) { fprintf(stderr, "loadgen: --method takes at most 31 bytes\n"); return 2; }
  } else if (strcmp(proto, "ws") == 0) {
    build_ws();
    ws_path = arg(argc, argv, "--path", "/");
  } else { fprintf(stderr, "loadgen: --proto is echo, rpc-framed, rpc-stream or ws\n"); return 2; }
  outcap = 256 * 1024;
  outbuf = malloc(outcap);

  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  inet_pton(AF_INET, host, &addr.sin_addr);
  int ep = epoll_create1(0);
  conn_t *conns = calloc((size_t)nconn, sizeof *conns);
  uint64_t *stamps = calloc((size_t)nconn * (size_t)inflight, sizeof *stamps);
  for (int i = 0; i < nconn; i++) {
    conn_t *c = &conns[i];
    c->fd = connect_one(&addr, host, port);
    if (c->fd < 0) { fprintf(stderr, "loadgen: connect %d of %d: %s\n", i + 1, nconn, strerror(errno)); return 1; }
    c->stamps = stamps + (size_t)i * (size_t)inflight;
    c->owed = (uint64_t)inflight;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
  }

  struct epoll_event *evs = malloc(sizeof *evs * 1024);
  int failed = 0;
  window_t w;
  window_init(&w, "loadgen", argc, argv);
  long idle_left = nconn;
  for (int i = 0; i < nconn; i++) if (flush_conn(ep, &conns[i], 0) < 0) { failed = 1; break; }

  while (!failed) {
    int n = epoll_wait(ep, evs, 1024, 1);
    for (int i = 0; i < n; i++) {
      conn_t *c = evs[i].data.ptr;
      if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
        long got = read_conn(c, w.measuring);
        if (got < 0) { failed = 1; break; }
        if (idle) { idle_left -= got; continue; } // one echo each, then hold the connection
        replies_all += (uint64_t)got;
        c->owed += (uint64_t)got;
      }
      if (c->owed > 0 && flush_conn(ep, c, w.measuring) < 0) { failed = 1; break; }
    }
    if (failed) break;
    if (idle) {
      if (idle_left <= 0) break;
      continue;
    }
    if (window_step(&w, replies_all, completed_total) == WINDOW_CLOSED) break;
  }
  if (failed) return window_failed(&w, verify_errors);
  if (idle) {
    printf("{\"ready\":%d}\n", nconn);
    fflush(stdout);
    char b[64];
    while (read(0, b, sizeof b) > 0) {}
    return 0;
  }
  if (completed_total == 0) { // a server that answers nothing (or a protocol it does not speak) is no result
    fprintf(stderr, "loadgen: no reply completed in the measured window\n");
    printf("{\"errors\":1,\"failed\":true}\n");
    return 1;
  }
  printf("{\"generator\":\"loadgen (C, epoll)\",\"proto\":\"%s\"", proto);
  window_print(&w, (double)completed_total);
  window_print_server(&w, (double)completed_total);
  printf("}\n");
  return 0;
}
