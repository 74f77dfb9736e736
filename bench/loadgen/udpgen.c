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

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

// ---- histogram: values in ns; below 64 exact, above, 64 sub-buckets per power of two.
#define SUB 64
static uint64_t hist[64 * SUB];
static uint64_t hist_n;
static void hist_add(uint64_t v) {
  int idx;
  if (v < SUB) idx = (int)v;
  else {
    int e = 63 - __builtin_clzll(v);
    int m = (int)((v >> (e - 6)) & (SUB - 1));
    idx = (e - 5) * SUB + m;
  }
  hist[idx]++;
  hist_n++;
}
static double hist_value(int idx) {
  if (idx < SUB) return idx;
  int e = idx / SUB + 5, m = idx % SUB;
  double lo = (double)(1ull << e) + (double)m * (double)(1ull << (e - 6));
  return lo + (double)(1ull << (e - 6)) / 2;
}
static double hist_pct(double p) {
  if (hist_n == 0) return 0;
  uint64_t rank = (uint64_t)(p * (double)hist_n);
  if (rank >= hist_n) rank = hist_n - 1;
  uint64_t acc = 0;
  for (int i = 0; i < 64 * SUB; i++) {
    acc += hist[i];
    if (acc > rank) return hist_value(i);
  }
  return 0;
}

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

typedef struct { uint64_t cpu_ticks, syscr, syscw; int ok; } proc_t;
static proc_t read_proc(int pid) {
  proc_t p = {0};
  if (pid <= 0) return p;
  char path[64], buf[4096];
  snprintf(path, sizeof path, "/proc/%d/stat", pid);
  FILE *fp = fopen(path, "r");
  if (!fp) return p;
  size_t n = fread(buf, 1, sizeof buf - 1, fp);
  fclose(fp);
  buf[n] = 0;
  char *s = strrchr(buf, ')');
  if (!s) return p;
  unsigned long long utime = 0, stime = 0;
  if (sscanf(s + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime) != 2) return p;
  p.cpu_ticks = utime + stime;
  snprintf(path, sizeof path, "/proc/%d/io", pid);
  fp = fopen(path, "r");
  if (fp) {
    char line[128];
    while (fgets(line, sizeof line, fp)) {
      unsigned long long v;
      if (sscanf(line, "syscr: %llu", &v) == 1) p.syscr = v;
      if (sscanf(line, "syscw: %llu", &v) == 1) p.syscw = v;
    }
    fclose(fp);
  }
  p.ok = 1;
  return p;
}

static double self_cpu_s(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

static const char *arg(int argc, char **argv, const char *name, const char *def) {
  for (int i = 1; i < argc - 1; i++)
    if (strcmp(argv[i], name) == 0) return argv[i + 1];
  return def;
}

int main(int argc, char **argv) {
  const char *host = arg(argc, argv, "--host", "127.0.0.1");
  int port = atoi(arg(argc, argv, "--port", "0"));
  int nflows = atoi(arg(argc, argv, "--flows", "20"));
  inflight = atoi(arg(argc, argv, "--inflight", "8"));
  size = (uint32_t)strtoul(arg(argc, argv, "--size", "128"), NULL, 10);
  double duration = atof(arg(argc, argv, "--duration", "3"));
  double warmup = atof(arg(argc, argv, "--warmup", "1"));
  double timeout_ms = atof(arg(argc, argv, "--timeout-ms", "200"));
  int pid = atoi(arg(argc, argv, "--pid", "0"));
  uint64_t count = strtoull(arg(argc, argv, "--requests", "0"), NULL, 10);
  uint64_t warmup_reqs = strtoull(arg(argc, argv, "--warmup-requests", "0"), NULL, 10);
  const char *on_start = arg(argc, argv, "--on-start", NULL), *on_end = arg(argc, argv, "--on-end", NULL);
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
  int measuring = 0, failed = 0;
  uint64_t t_start = now_ns(), t_measure = 0, t_end = 0, t_scan = t_start;
  uint64_t warm_ns = (uint64_t)(warmup * 1e9), dur_ns = (uint64_t)(duration * 1e9), to_ns = (uint64_t)(timeout_ms * 1e6);
  uint64_t lost_at_start = 0, dups_at_start = 0;
  double cpu0 = 0;
  proc_t p0 = {0}, p_end = {0};
  for (int i = 0; i < nflows; i++) if (flush_flow(&flows[i]) < 0) { failed = 1; break; }

  while (!failed) {
    int n = epoll_wait(ep, evs, nflows, 1);
    if (n < 0 && errno != EINTR) { failed = 1; break; }
    for (int i = 0; i < n; i++) {
      flow_t *f = evs[i].data.ptr;
      if (read_flow(f, measuring) < 0 || flush_flow(f) < 0) { failed = 1; break; }
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
    if (count > 0) {
      // Replies before the window are not counted in `completed`: the warmup counts sends.
      if (!measuring && sends >= warmup_reqs) {
        if (on_start && system(on_start) != 0) fprintf(stderr, "udpgen: %s failed\n", on_start);
        measuring = 1;
        t_measure = now_ns();
        cpu0 = self_cpu_s();
        p0 = read_proc(pid);
        lost_at_start = lost;
        dups_at_start = dups;
      } else if (measuring && completed >= count) {
        t_end = now_ns();
        p_end = read_proc(pid);
        if (on_end && system(on_end) != 0) fprintf(stderr, "udpgen: %s failed\n", on_end);
        break;
      }
      continue;
    }
    if (!measuring && t - t_start >= warm_ns) {
      measuring = 1;
      t_measure = t;
      cpu0 = self_cpu_s();
      p0 = read_proc(pid);
      lost_at_start = lost;
      dups_at_start = dups;
    } else if (measuring && t - t_measure >= dur_ns) {
      t_end = t;
      break;
    }
  }
  if (failed) {
    fprintf(stderr, "udpgen: %s\n", verify_errors ? "a reply did not match its request" : strerror(errno));
    printf("{\"errors\":%d,\"failed\":true}\n", verify_errors ? verify_errors : 1);
    return 1;
  }
  if (completed == 0) { // a server that answers nothing is no result
    fprintf(stderr, "udpgen: no reply in the measured window\n");
    printf("{\"errors\":1,\"failed\":true,\"reason\":\"no reply\"}\n");
    return 1;
  }
  proc_t p1 = count > 0 ? p_end : read_proc(pid);
  double cpu = self_cpu_s() - cpu0;
  double secs = (double)(t_end - t_measure) / 1e9;
  double reqs = (double)completed;
  long ticks = sysconf(_SC_CLK_TCK);
  printf("{\"generator\":\"udpgen (C, epoll, recvmmsg/sendmmsg)\",\"requests\":%.0f,\"seconds\":%.3f,\"rps\":%.1f,"
         "\"p50us\":%.2f,\"p99us\":%.2f,\"p999us\":%.2f,\"cpuPercent\":%.1f,\"errors\":0,\"lost\":%llu,\"duplicates\":%llu",
         reqs, secs, reqs / secs, hist_pct(0.5) / 1e3, hist_pct(0.99) / 1e3, hist_pct(0.999) / 1e3, cpu / secs * 100,
         (unsigned long long)(lost - lost_at_start), (unsigned long long)(dups - dups_at_start));
  double answered = reqs + (double)(dups - dups_at_start);
  if (p0.ok && p1.ok && reqs > 0)
    printf(",\"serverCpuUsPerReq\":%.4f,\"serverCpuPercent\":%.1f,\"serverReadsPerReq\":%.4f,\"serverWritesPerReq\":%.4f",
           (double)(p1.cpu_ticks - p0.cpu_ticks) / (double)ticks * 1e6 / answered,
           (double)(p1.cpu_ticks - p0.cpu_ticks) / (double)ticks / secs * 100,
           (double)(p1.syscr - p0.syscr) / answered, (double)(p1.syscw - p0.syscw) / answered);
  printf("}\n");
  return 0;
}
