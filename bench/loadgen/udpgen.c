// bench/loadgen/udpgen.c: the compiled UDP load generator of bench/messages. A Node client saturates
// its own core before a fast UDP echo server does; this one is C on epoll with recvmmsg/sendmmsg, so
// it keeps headroom and the server is what gets measured.
//
// Closed loop with an exact window per flow: each flow is one connected UDP socket that keeps exactly
// `inflight` datagrams outstanding; each reply is replaced by one new request (sent in one sendmmsg
// per read batch). A datagram carries its flow's sequence number (bytes 0-7), its slot in the window
// (8-11) and the flow number (12-15); the rest is a fixed pattern. Every reply is verified: a wrong
// length, pattern, flow or slot fails the run; a reply to a sequence number no longer outstanding (the
// late answer to a retransmitted one) counts as a duplicate. A datagram unanswered after --timeout-ms
// is counted as lost and sent again (same sequence number), so loss never shrinks the window.
// Latency: from the send of a request (its last retransmission) to its reply, log-linear histogram.
//
// With --pid P it also reads the server's CPU (utime+stime of /proc/P/stat) and syscalls
// (syscr/syscw of /proc/P/io) at the exact edges of the measured window, per datagram the server
// answered (replies, duplicates included: a late reply cost the server as much as any other).
//
// Usage: udpgen --port P [--host 127.0.0.1] [--flows 20] [--inflight 8] [--size 128]
//               [--duration 3] [--warmup 1] [--timeout-ms 200] [--pid P]
//        udpgen ... --requests N [--warmup-requests W] [--on-start CMD] [--on-end CMD]
//                   a counted window instead of a timed one (for callgrind: a command at each edge)
// Prints one JSON line on stdout; exit 1 on a verification error or a socket failure.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
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

#define HDR 16     // seq(8) slot(4) flow(4)
#define BATCH 64   // datagrams per recvmmsg / sendmmsg

typedef struct {
  uint64_t seq;     // the sequence number outstanding in this slot
  uint64_t sent_ns; // when it was (last) sent; 0 while waiting to be sent
} slot_t;

typedef struct {
  int fd;
  uint32_t id;
  uint64_t next_seq;
  slot_t *slots;
  uint32_t *owed;    // slots whose datagram is due (new or retransmitted)
  uint32_t nowed;
} flow_t;

static uint32_t size = 128;
static int inflight = 8;
static uint8_t *pattern; // the fixed bytes of every datagram (its first HDR bytes are overwritten)

static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void put64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }
static uint32_t get32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint64_t get64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }

static uint8_t *sendbufs;          // BATCH datagrams being sent
static struct mmsghdr smsg[BATCH];
static struct iovec siov[BATCH];
static uint8_t *recvbufs;          // BATCH datagrams being read (each up to 64 KiB)
static struct mmsghdr rmsg[BATCH];
static struct iovec riov[BATCH];
#define RECV_MAX 65536

static uint64_t completed, lost, dups, sends;

// Sends what the flow owes, BATCH at a time; what the socket refuses stays owed for the next turn.
static int flush_flow(flow_t *f) {
  while (f->nowed > 0) {
    uint32_t n = f->nowed < BATCH ? f->nowed : BATCH;
    for (uint32_t i = 0; i < n; i++) {
      uint32_t s = f->owed[i];
      uint8_t *b = sendbufs + (size_t)i * size;
      memcpy(b, pattern, size);
      if (size >= HDR) {
        put64(b, f->slots[s].seq);
        put32(b + 8, s);
        put32(b + 12, f->id);
      }
    }
    int w = sendmmsg(f->fd, smsg, n, 0);
    if (w < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) return 0;
      if (errno == EINTR) continue;
      if (errno == ECONNREFUSED) return 0; // an ICMP error of a lost datagram: the timeout resends
      return -1;
    }
    uint64_t t = now_ns();
    for (int i = 0; i < w; i++) f->slots[f->owed[i]].sent_ns = t;
    sends += (uint64_t)w;
    memmove(f->owed, f->owed + w, (size_t)(f->nowed - (uint32_t)w) * sizeof *f->owed);
    f->nowed -= (uint32_t)w;
    if ((uint32_t)w < n) return 0;
  }
  return 0;
}

static int verify_errors = 0;

// Reads every datagram waiting on the flow; each good reply frees its slot for a new request.
static int read_flow(flow_t *f, int measuring) {
  for (;;) {
    int n = recvmmsg(f->fd, rmsg, BATCH, MSG_DONTWAIT, NULL);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
      if (errno == EINTR) continue;
      if (errno == ECONNREFUSED) return 0;
      return -1;
    }
    uint64_t t = now_ns();
    for (int i = 0; i < n; i++) {
      const uint8_t *b = recvbufs + (size_t)i * RECV_MAX;
      uint32_t len = rmsg[i].msg_len;
      if (len != size) { fprintf(stderr, "udpgen: a reply of %u bytes, not %u\n", len, size); verify_errors++; return -1; }
      if (size < HDR) { // too small to carry a sequence number: the oldest outstanding slot is done
        if (memcmp(b, pattern, size) != 0) { verify_errors++; return -1; }
        uint32_t best = 0;
        for (uint32_t s = 1; s < (uint32_t)inflight; s++) if (f->slots[s].sent_ns && f->slots[s].seq < f->slots[best].seq) best = s;
        if (!f->slots[best].sent_ns) { dups++; continue; }
        if (measuring) { hist_add(t - f->slots[best].sent_ns); completed++; }
        f->slots[best].seq = f->next_seq++;
        f->slots[best].sent_ns = 0;
        f->owed[f->nowed++] = best;
        continue;
      }
      uint64_t seq = get64(b);
      uint32_t s = get32(b + 8), id = get32(b + 12);
      if (id != f->id || s >= (uint32_t)inflight || seq >= f->next_seq || memcmp(b + HDR, pattern + HDR, size - HDR) != 0) {
        fprintf(stderr, "udpgen: a reply that matches no request (flow %u slot %u seq %llu)\n", id, s, (unsigned long long)seq);
        verify_errors++;
        return -1;
      }
      slot_t *sl = &f->slots[s];
      if (sl->seq != seq || sl->sent_ns == 0) { dups++; continue; } // answered already
      if (measuring) { hist_add(t - sl->sent_ns); completed++; }
      sl->seq = f->next_seq++;
      sl->sent_ns = 0;
      f->owed[f->nowed++] = s;
    }
    if (n < BATCH) return 0;
  }
}

int main(int argc, char **argv) {
  const char *host = arg(argc, argv, "--host", "127.0.0.1");
  int port = atoi(arg(argc, argv, "--port", "0"));
  int nflows = atoi(arg(argc, argv, "--flows", "20"));
  inflight = atoi(arg(argc, argv, "--inflight", "8"));
  size = (uint32_t)strtoul(arg(argc, argv, "--size", "128"), NULL, 10);
  double timeout_ms = atof(arg(argc, argv, "--timeout-ms", "200"));
  if (port <= 0 || nflows <= 0 || inflight <= 0 || size == 0 || size > 65507) {
    fprintf(stderr, "udpgen: --port, --flows, --inflight must be positive, --size 1..65507\n");
    return 2;
  }

  pattern = malloc(size);
  for (uint32_t i = 0; i < size; i++) pattern[i] = (uint8_t)(i * 31 + 7);
  sendbufs = malloc((size_t)BATCH * size);
  recvbufs = malloc((size_t)BATCH * RECV_MAX);
  for (int i = 0; i < BATCH; i++) {
    siov[i] = (struct iovec){.iov_base = sendbufs + (size_t)i * size, .iov_len = size};
    smsg[i].msg_hdr = (struct msghdr){.msg_iov = &siov[i], .msg_iovlen = 1};
    riov[i] = (struct iovec){.iov_base = recvbufs + (size_t)i * RECV_MAX, .iov_len = RECV_MAX};
    rmsg[i].msg_hdr = (struct msghdr){.msg_iov = &riov[i], .msg_iovlen = 1};
  }

  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) { fprintf(stderr, "udpgen: --host must be an IPv4 address\n"); return 2; }
  int ep = epoll_create1(0);
  flow_t *flows = calloc((size_t)nflows, sizeof *flows);
  for (int i = 0; i < nflows; i++) {
    flow_t *f = &flows[i];
    f->id = (uint32_t)i;
    f->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    int buf = 1 << 20;
    setsockopt(f->fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
    if (f->fd < 0 || connect(f->fd, (struct sockaddr *)&addr, sizeof addr) < 0) { fprintf(stderr, "udpgen: socket %d: %s\n", i, strerror(errno)); return 1; }
    f->slots = calloc((size_t)inflight, sizeof *f->slots);
    f->owed = calloc((size_t)inflight, sizeof *f->owed);
    for (int s = 0; s < inflight; s++) { f->slots[s].seq = f->next_seq++; f->owed[f->nowed++] = (uint32_t)s; }
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = f};
    epoll_ctl(ep, EPOLL_CTL_ADD, f->fd, &ev);
  }

  struct epoll_event *evs = malloc(sizeof *evs * (size_t)nflows);
  int failed = 0;
  window_t w;
  window_init(&w, "udpgen", argc, argv);
  uint64_t t_scan = w.t_start, to_ns = (uint64_t)(timeout_ms * 1e6);
  uint64_t lost_at_start = 0, dups_at_start = 0;
  for (int i = 0; i < nflows; i++) if (flush_flow(&flows[i]) < 0) { failed = 1; break; }

  while (!failed) {
    int n = epoll_wait(ep, evs, nflows, 1);
    if (n < 0 && errno != EINTR) { failed = 1; break; }
    for (int i = 0; i < n; i++) {
      flow_t *f = evs[i].data.ptr;
      if (read_flow(f, w.measuring) < 0 || flush_flow(f) < 0) { failed = 1; break; }
    }
    if (failed) break;
    uint64_t t = now_ns();
    // Loss: every few ms, a datagram outstanding longer than the timeout is counted and sent again.
    if (t - t_scan >= to_ns / 4) {
      t_scan = t;
      for (int i = 0; i < nflows; i++) {
        flow_t *f = &flows[i];
        for (int s = 0; s < inflight; s++) {
          if (f->slots[s].sent_ns != 0 && t - f->slots[s].sent_ns > to_ns) {
            f->slots[s].sent_ns = 0;
            f->owed[f->nowed++] = (uint32_t)s;
            lost++;
          }
        }
        if (f->nowed > 0 && flush_flow(f) < 0) { failed = 1; break; }
      }
      // A socket that refused a send (ENOBUFS) is retried here too.
    }
    // Counted mode: replies before the window are not counted in `completed`, so the warmup counts sends.
    int edge = window_step(&w, sends, completed);
    if (edge == WINDOW_OPENED) lost_at_start = lost, dups_at_start = dups;
    else if (edge == WINDOW_CLOSED) break;
  }
  if (failed) return window_failed(&w, verify_errors);
  if (completed == 0) { // a server that answers nothing is no result
    fprintf(stderr, "udpgen: no reply in the measured window\n");
    printf("{\"errors\":1,\"failed\":true,\"reason\":\"no reply\"}\n");
    return 1;
  }
  printf("{\"generator\":\"udpgen (C, epoll, recvmmsg/sendmmsg)\"");
  window_print(&w, (double)completed);
  printf(",\"lost\":%llu,\"duplicates\":%llu", (unsigned long long)(lost - lost_at_start), (unsigned long long)(dups - dups_at_start));
  // Per datagram the server answered, duplicates included: a late reply cost it as much as any other.
  window_print_server(&w, (double)completed + (double)(dups - dups_at_start));
  printf("}\n");
  return 0;
}
