// bench/loadgen/common.h: what the two compiled generators share (loadgen.c over TCP, udpgen.c over
// UDP), so that both measure the same way: the monotonic clock, the latency histogram, the server's
// CPU and syscalls from /proc, the options, and the measured window (timed, or counted with a
// command at each edge) with the result line's common fields. Each generator is one translation
// unit that includes this header once; everything here is static.
#ifndef NOCOPY_LOADGEN_COMMON_H
#define NOCOPY_LOADGEN_COMMON_H
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

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
    int e = 63 - __builtin_clzll(v);           // v in [2^e, 2^(e+1)), e >= 6
    int m = (int)((v >> (e - 6)) & (SUB - 1)); // next 6 bits
    idx = (e - 5) * SUB + m;
  }
  hist[idx]++;
  hist_n++;
}
static double hist_value(int idx) { // the middle of the bucket, ns
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

// ---- the server's CPU (utime+stime of /proc/P/stat) and syscalls (syscr/syscw of /proc/P/io).
typedef struct { uint64_t cpu_ticks, syscr, syscw; int ok; } proc_t;
static proc_t read_proc(int pid) {
  proc_t p = {0};
  if (pid <= 0) return p;
  char path[64], buf[4096];
  snprintf(path, sizeof path, "/proc/%d/stat", pid);
  FILE *f = fopen(path, "r");
  if (!f) return p;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = 0;
  char *s = strrchr(buf, ')'); // the command name may hold spaces
  if (!s) return p;
  unsigned long long utime = 0, stime = 0;
  // after ')': state(3) ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime(14) stime(15)
  if (sscanf(s + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime) != 2) return p;
  p.cpu_ticks = utime + stime;
  snprintf(path, sizeof path, "/proc/%d/io", pid);
  f = fopen(path, "r");
  if (f) {
    char line[128];
    while (fgets(line, sizeof line, f)) {
      unsigned long long v;
      if (sscanf(line, "syscr: %llu", &v) == 1) p.syscr = v;
      if (sscanf(line, "syscw: %llu", &v) == 1) p.syscw = v;
    }
    fclose(f);
  }
  p.ok = 1;
  return p;
}

static double self_cpu_s(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

// ---- options: `--name value` pairs.
static const char *arg(int argc, char **argv, const char *name, const char *def) {
  for (int i = 1; i < argc - 1; i++)
    if (strcmp(argv[i], name) == 0) return argv[i + 1];
  return def;
}

// ---- the measured window. Timed (--warmup S, --duration S) or counted (--requests N after
// --warmup-requests W, for instruction counts under valgrind: --on-start and --on-end run a command
// at each edge, e.g. callgrind_control). The server is read at the exact edges.
typedef struct {
  const char *name; // the generator's name, for messages
  int pid;
  uint64_t count, warmup_reqs, warm_ns, dur_ns, t_start;
  const char *on_start, *on_end;
  int measuring;
  uint64_t t_measure, t_end;
  double cpu0, cpu;
  proc_t p0, p1;
} window_t;

static void window_init(window_t *w, const char *name, int argc, char **argv) {
  memset(w, 0, sizeof *w);
  w->name = name;
  w->pid = atoi(arg(argc, argv, "--pid", "0"));
  w->warm_ns = (uint64_t)(atof(arg(argc, argv, "--warmup", "1")) * 1e9);
  w->dur_ns = (uint64_t)(atof(arg(argc, argv, "--duration", "3")) * 1e9);
  w->count = strtoull(arg(argc, argv, "--requests", "0"), NULL, 10);
  w->warmup_reqs = strtoull(arg(argc, argv, "--warmup-requests", "0"), NULL, 10);
  w->on_start = arg(argc, argv, "--on-start", NULL);
  w->on_end = arg(argc, argv, "--on-end", NULL);
  w->t_start = now_ns();
}

static void window_run(const window_t *w, const char *cmd) {
  if (cmd && system(cmd) != 0) fprintf(stderr, "%s: %s failed\n", w->name, cmd);
}

enum { WINDOW_WAIT, WINDOW_OPENED, WINDOW_CLOSED };

// One step of the main loop: opens the window once warm (counted: `progress` reached the warmup),
// closes it once over (counted: `done` replies in it). Says which happened.
static int window_step(window_t *w, uint64_t progress, uint64_t done) {
  uint64_t t = now_ns();
  int counted = w->count > 0;
  if (!w->measuring && (counted ? progress >= w->warmup_reqs : t - w->t_start >= w->warm_ns)) {
    if (counted) window_run(w, w->on_start), t = now_ns();
    w->measuring = 1;
    w->t_measure = t;
    w->cpu0 = self_cpu_s();
    w->p0 = read_proc(w->pid);
    return WINDOW_OPENED;
  }
  if (w->measuring && (counted ? done >= w->count : t - w->t_measure >= w->dur_ns)) {
    w->t_end = t;
    w->cpu = self_cpu_s() - w->cpu0;
    w->p1 = read_proc(w->pid); // before the command, whose effects on the server would count
    if (counted) window_run(w, w->on_end);
    return WINDOW_CLOSED;
  }
  return WINDOW_WAIT;
}

// The failure line: a reply that did not match (verify_errors) or a socket error (errno).
static int window_failed(const window_t *w, int verify_errors) {
  fprintf(stderr, "%s: %s\n", w->name, verify_errors ? "a reply did not match its request" : strerror(errno));
  printf("{\"errors\":%d,\"failed\":true}\n", verify_errors ? verify_errors : 1);
  return 1;
}

// The fields every result line has, after the generator's own: the rate, the latency percentiles,
// the generator's CPU.
static void window_print(const window_t *w, double reqs) {
  double secs = (double)(w->t_end - w->t_measure) / 1e9;
  printf(",\"requests\":%.0f,\"seconds\":%.3f,\"rps\":%.1f,\"p50us\":%.2f,\"p99us\":%.2f,\"p999us\":%.2f,\"cpuPercent\":%.1f,\"errors\":0",
         reqs, secs, reqs / secs, hist_pct(0.5) / 1e3, hist_pct(0.99) / 1e3, hist_pct(0.999) / 1e3, w->cpu / secs * 100);
}

// The server's fields, per message it answered, when --pid was given and /proc could be read.
static void window_print_server(const window_t *w, double answered) {
  if (!w->p0.ok || !w->p1.ok || answered <= 0) return;
  double secs = (double)(w->t_end - w->t_measure) / 1e9, ticks = (double)sysconf(_SC_CLK_TCK);
  printf(",\"serverCpuUsPerReq\":%.4f,\"serverCpuPercent\":%.1f,\"serverReadsPerReq\":%.4f,\"serverWritesPerReq\":%.4f",
         (double)(w->p1.cpu_ticks - w->p0.cpu_ticks) / ticks * 1e6 / answered,
         (double)(w->p1.cpu_ticks - w->p0.cpu_ticks) / ticks / secs * 100,
         (double)(w->p1.syscr - w->p0.syscr) / answered, (double)(w->p1.syscw - w->p0.syscw) / answered);
}
#endif
