/*
 * lifeline bench: native load generator (C, epoll), for runs far past what Node generators fit
 * in memory (`lifeline bench --native`, up to 1,000,000 connections on one box).
 *
 * It speaks exactly what src/bench/lean-clients.ts speaks, with every byte computed by the
 * TypeScript protocol encoder and passed in as hex (src/bench/native-generator.ts):
 *   lifeline: write HELLO, wait for WELCOME (open), then PING every T; a PONG is the round trip;
 *             a server PING with id i is answered with pong[i] and counts as a round trip;
 *             with --follow 1 (the server leads, spec 0010) we never PING: the server's PINGs
 *             are the round trips and its PONGs (pushed status) are not;
 *             a CLOSE frame fails the connection.
 *   raw:      write 1 byte, its echo means open; then 1 byte every T; each byte back is a round trip.
 * To parse the server's stream it knows the frame layout (PROTOCOL.md §3): 1ssiiiii + load byte =
 * PONG, 010iiiii = PING, type 1..6 + LEB128 body length + body = long frame (2 WELCOME, 5 CLOSE).
 *
 * Each connection's first PING comes at a random phase of one interval (uniform spread), then
 * every T on a 10 ms slot ring. Missed beats, RTT and bytes are counted as generator-main.ts does.
 *
 * JSON lines on stdout, commands on stdin (same protocol as generator-main.ts):
 *   -> {"ev":"progress",...} every 500 ms while connecting; {"ev":"ready",...} once
 *   <- {"cmd":"mark"} -> {"ev":"marked"};  <- {"cmd":"report"} -> {"ev":"report","window":{...}}
 * stdin EOF: exit. PR_SET_PDEATHSIG: dies with its parent.
 *
 * Bounds: at most --in-flight handshakes at once (default 256), 3 attempts per connection, a
 * 30 s handshake timeout per attempt, --connect-deadline overall, at most 19,000 connections per
 * process, loopback (127.0.0.0/8) addresses only.
 *
 * Args: --mode raw|lifeline --host 127.0.0.1 --interval MS --segments SRC:PORT:COUNT,...
 *       --hello HEX --ping HEX [--pongs HEX (32 PONGs, 2 bytes each, id 0..31)] [--follow 1]
 *       [--connect-deadline MS] [--in-flight N]
 * Build: gcc -O2 -o loadgen loadgen.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

#define MAX_CONNS 19000
#define MAX_ATTEMPTS 3
#define HANDSHAKE_TIMEOUT_MS 30000.0
#define SLOT_MS 10.0
#define STDIN_TAG 0xffffffffu

enum { C_IDLE, C_CONNECTING, C_HANDSHAKE, C_OPEN, C_DONE };
enum { P_TYPE, P_PONG_LOAD, P_LEN, P_BODY };

struct conn {
  double lastRt;   /* last round trip (or open), ms */
  double sentAt;   /* unanswered PING sent at, ms (0: none) */
  double startedAt;
  int fd;
  int slotNext;    /* next connection in the same ping slot, -1 */
  uint32_t bodyLeft;
  uint32_t lenValue;
  uint16_t seg;
  uint8_t state, attempts, parse, longType, lenBytes, inSlot;
};

struct segment { struct sockaddr_in src, dst; int count; };

static struct conn *conns;
static int count;
static struct segment *segs;
static int nsegs;
static int raw;
static double intervalMs, connectDeadlineMs;
static int maxInFlight = 256;
static uint8_t hello[256], ping[16], pongs[64];
static int helloLen, pingLen, pongsLen;
/* The server leads the heartbeat (lifeline, spec 0010): never PING, only answer. */
static int follow;
static int ep;

static int *slotHead;
static int nslots;
static long long lastSlot;
static double t0;

static int readyCount, failedCount, inFlight, nextConn, connectDone;
static int *retryQueue, retryHead, retryTail;
static char firstError[160];
static long long roundTrips, missed, closedInWindow, closedSinceReady;
static unsigned long long bytes, markBytes;
static int windowOpen;
static double cpuAtMark;
#define RTT_BUCKETS 1024
static unsigned long long rtt[RTT_BUCKETS], rttCount;

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void emit(const char *json) {
  fputs(json, stdout);
  fputc('\n', stdout);
  fflush(stdout);
}

static void die(const char *message) {
  printf("{\"ev\":\"error\",\"message\":\"%s\"}\n", message);
  fflush(stdout);
  exit(2);
}

static int hexdecode(const char *hex, uint8_t *out, int max) {
  int n = (int)strlen(hex) / 2;
  if (n > max || (int)strlen(hex) % 2) die("bad hex argument");
  for (int i = 0; i < n; i++) {
    unsigned v;
    if (sscanf(hex + 2 * i, "%2x", &v) != 1) die("bad hex argument");
    out[i] = (uint8_t)v;
  }
  return n;
}

static void loopbackAddr(const char *text, int port, struct sockaddr_in *out) {
  memset(out, 0, sizeof *out);
  out->sin_family = AF_INET;
  out->sin_port = htons((uint16_t)port);
  if (inet_pton(AF_INET, text, &out->sin_addr) != 1) die("bad address");
  if ((ntohl(out->sin_addr.s_addr) >> 24) != 127) die("not a loopback address (127.0.0.0/8 only)");
}

/* Log-linear RTT histogram in µs: 16 buckets per power of two (~4 % wide). */
static int rttBucket(double us) {
  if (us < 1) us = 1;
  int e;
  double m = frexp(us, &e); /* us = m * 2^e, m in [0.5, 1) */
  int b = e * 16 + (int)((m - 0.5) * 32);
  return b < RTT_BUCKETS ? b : RTT_BUCKETS - 1;
}
static double rttPercentileMs(double p) {
  unsigned long long want = (unsigned long long)ceil(p / 100.0 * rttCount), seen = 0;
  for (int b = 0; b < RTT_BUCKETS; b++) {
    seen += rtt[b];
    if (seen >= want && rtt[b]) return ldexp(0.5 + ((b % 16) + 0.5) / 32.0, b / 16) / 1000.0;
  }
  return 0;
}

static void setError(const char *what, int err) {
  if (!firstError[0]) snprintf(firstError, sizeof firstError, "%s: %s", what, strerror(err));
}

static void closeFd(struct conn *c) {
  if (c->fd >= 0) {
    close(c->fd);
    c->fd = -1;
  }
}

static void pump(void);

/* An attempt ended before the connection opened: retry or give up. */
static void attemptFailed(int i, const char *what, int err) {
  struct conn *c = &conns[i];
  closeFd(c);
  inFlight--;
  if (++c->attempts < MAX_ATTEMPTS && !connectDone) {
    c->state = C_IDLE;
    retryQueue[retryTail++ % (count + 1)] = i;
  } else {
    c->state = C_DONE;
    failedCount++;
    setError(what, err);
  }
}

static void opened(int i) {
  struct conn *c = &conns[i];
  c->state = C_OPEN;
  inFlight--;
  readyCount++;
  c->lastRt = now();
  c->sentAt = 0;
  if (!c->inSlot && !follow) {
    /* First PING at a uniformly random phase of one interval, then every T. */
    int s = (int)(drand48() * nslots);
    c->slotNext = slotHead[s];
    slotHead[s] = i;
    c->inSlot = 1;
  }
}

static void closedOpen(int i) {
  struct conn *c = &conns[i];
  closeFd(c);
  c->state = C_DONE;
  if (connectDone) closedSinceReady++;
  if (windowOpen) closedInWindow++;
}

static void roundTrip(int i) {
  struct conn *c = &conns[i];
  double t = now();
  if (windowOpen) {
    roundTrips++;
    long long beats = llround((t - c->lastRt) / intervalMs);
    if (beats >= 2) missed += beats - 1;
    if (c->sentAt > 0) {
      rtt[rttBucket((t - c->sentAt) * 1000.0)]++;
      rttCount++;
    }
  }
  c->sentAt = 0;
  c->lastRt = t;
}

static void sendBytes(int i, const uint8_t *b, int n) {
  ssize_t w = write(conns[i].fd, b, (size_t)n);
  if (w > 0) bytes += (unsigned long long)w;
}

static void startConnect(int i) {
  struct conn *c = &conns[i];
  struct segment *s = &segs[c->seg];
  inFlight++;
  c->startedAt = now();
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return attemptFailed(i, "socket", errno);
  c->fd = fd;
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
  if (bind(fd, (struct sockaddr *)&s->src, sizeof s->src) < 0) return attemptFailed(i, "bind", errno);
  if (connect(fd, (struct sockaddr *)&s->dst, sizeof s->dst) < 0 && errno != EINPROGRESS) return attemptFailed(i, "connect", errno);
  c->state = C_CONNECTING;
  c->parse = P_TYPE;
  struct epoll_event ev = {.events = EPOLLOUT | EPOLLIN, .data.u32 = (uint32_t)i};
  if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) return attemptFailed(i, "epoll_ctl", errno);
}

static void finishConnecting(void) {
  if (connectDone) return;
  connectDone = 1;
  char line[400];
  snprintf(line, sizeof line, "{\"ev\":\"ready\",\"ready\":%d,\"failed\":%d%s%s%s}", readyCount, count - readyCount,
           firstError[0] ? ",\"firstError\":\"" : "", firstError, firstError[0] ? "\"" : "");
  emit(line);
}

static void pump(void) {
  while (inFlight < maxInFlight && (nextConn < count || retryHead != retryTail)) {
    int i = retryHead != retryTail ? retryQueue[retryHead++ % (count + 1)] : nextConn++;
    startConnect(i);
  }
  if (readyCount + failedCount == count) finishConnecting();
}

static void longFrameDone(int i) {
  struct conn *c = &conns[i];
  c->parse = P_TYPE;
  if (c->longType == 2 && c->state == C_HANDSHAKE) opened(i); /* WELCOME */
}

/* Parse what the server sent. Returns 0, or -1 when the connection must close. */
static int onData(int i, const uint8_t *b, int n) {
  struct conn *c = &conns[i];
  if (raw) {
    int k = 0;
    if (c->state == C_HANDSHAKE) {
      opened(i);
      k = 1;
    }
    for (; k < n; k++) roundTrip(i);
    return 0;
  }
  for (int k = 0; k < n; k++) {
    uint8_t x = b[k];
    switch (c->parse) {
      case P_TYPE:
        if (x >= 0x80) c->parse = P_PONG_LOAD;
        else if (x >= 0x60) return setError("protocol", EPROTO), -1;
        else if (x >= 0x40) {
          if (c->state != C_OPEN) return setError("PING before WELCOME", EPROTO), -1;
          sendBytes(i, pongs + 2 * (x & 0x1f), 2);
          roundTrip(i);
        } else if (x == 0 || x > 6) return setError("unknown frame type", EPROTO), -1;
        else {
          if (x == 5) return setError("server sent CLOSE", ECONNRESET), -1;
          c->longType = x;
          c->lenValue = 0;
          c->lenBytes = 0;
          c->parse = P_LEN;
        }
        break;
      case P_PONG_LOAD:
        c->parse = P_TYPE;
        if (c->state == C_OPEN && !follow) roundTrip(i);
        break;
      case P_LEN:
        c->lenValue |= (uint32_t)(x & 0x7f) << (7 * c->lenBytes++);
        if (x & 0x80) {
          if (c->lenBytes >= 4) return setError("frame too long", EPROTO), -1;
          break;
        }
        c->bodyLeft = c->lenValue;
        if (c->bodyLeft == 0) longFrameDone(i);
        else c->parse = P_BODY;
        break;
      case P_BODY: {
        /* Skip as much of the body as this chunk holds, from byte k on. */
        uint32_t avail = (uint32_t)(n - k);
        uint32_t take = c->bodyLeft < avail ? c->bodyLeft : avail;
        c->bodyLeft -= take;
        k += (int)take - 1;
        if (c->bodyLeft == 0) longFrameDone(i);
        break;
      }
    }
  }
  return 0;
}

static void onEvent(uint32_t i, uint32_t events) {
  struct conn *c = &conns[i];
  if (c->fd < 0) return;
  if (c->state == C_CONNECTING) {
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err || (events & (EPOLLERR | EPOLLHUP))) return attemptFailed((int)i, "connect", err ? err : ECONNRESET);
    if (!(events & EPOLLOUT)) return;
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = i};
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
    c->state = C_HANDSHAKE;
    sendBytes((int)i, hello, helloLen);
    if (!(events & EPOLLIN)) return;
  }
  uint8_t buf[4096];
  ssize_t n = read(c->fd, buf, sizeof buf);
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
  if (n > 0) {
    bytes += (unsigned long long)n;
    if (onData((int)i, buf, (int)n) == 0) return;
  }
  if (c->state == C_OPEN) closedOpen((int)i);
  else if (c->state == C_HANDSHAKE) attemptFailed((int)i, "closed during handshake", n < 0 ? errno : ECONNRESET);
}

/* Write due PINGs: every slot from the last one processed up to now. */
static void pingDue(double t) {
  long long cur = (long long)((t - t0) / SLOT_MS);
  if (cur - lastSlot > nslots) lastSlot = cur - nslots;
  for (long long s = lastSlot + 1; s <= cur; s++) {
    for (int i = slotHead[s % nslots]; i >= 0; i = conns[i].slotNext) {
      struct conn *c = &conns[i];
      if (c->state != C_OPEN) continue;
      if (c->sentAt == 0) c->sentAt = t;
      sendBytes(i, ping, pingLen);
    }
  }
  lastSlot = cur;
}

static void expireHandshakes(double t) {
  for (int i = 0; i < count; i++) {
    struct conn *c = &conns[i];
    if ((c->state == C_CONNECTING || c->state == C_HANDSHAKE) && t - c->startedAt > HANDSHAKE_TIMEOUT_MS) {
      epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
      attemptFailed(i, "handshake timeout", ETIMEDOUT);
    }
  }
  pump();
}

static double cpuMicrosNow(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec * 1e6 + ru.ru_utime.tv_usec + ru.ru_stime.tv_sec * 1e6 + ru.ru_stime.tv_usec;
}

static int openCount(void) {
  int n = 0;
  for (int i = 0; i < count; i++) n += conns[i].state == C_OPEN;
  return n;
}

static void command(const char *line) {
  if (strstr(line, "\"mark\"")) {
    roundTrips = missed = closedInWindow = 0;
    memset(rtt, 0, sizeof rtt);
    rttCount = 0;
    markBytes = bytes;
    cpuAtMark = cpuMicrosNow();
    windowOpen = 1;
    emit("{\"ev\":\"marked\"}");
  } else if (strstr(line, "\"report\"")) {
    windowOpen = 0;
    double t = now();
    long long miss = missed;
    for (int i = 0; i < count; i++) {
      if (conns[i].state != C_OPEN) continue;
      long long beats = llround((t - conns[i].lastRt) / intervalMs);
      if (beats >= 2) miss += beats - 1;
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu = cpuMicrosNow() - cpuAtMark;
    char out[600];
    char p50[32] = "null", p99[32] = "null";
    if (rttCount > 0) {
      snprintf(p50, sizeof p50, "%.3f", rttPercentileMs(50));
      snprintf(p99, sizeof p99, "%.3f", rttPercentileMs(99));
    }
    snprintf(out, sizeof out,
             "{\"ev\":\"report\",\"window\":{\"roundTrips\":%lld,\"bytes\":%llu,\"missed\":%lld,\"closed\":%lld,"
             "\"closedSinceReady\":%lld,\"open\":%d,\"rttP50Ms\":%s,\"rttP99Ms\":%s,\"cpuMicros\":%.0f,\"maxRssKiB\":%ld}}",
             roundTrips, bytes - markBytes, miss, closedInWindow, closedSinceReady, openCount(), p50, p99, cpu, ru.ru_maxrss);
    emit(out);
  }
}

static void parseSegments(char *text, const char *host) {
  nsegs = 1;
  for (char *p = text; *p; p++) nsegs += *p == ',';
  segs = calloc((size_t)nsegs, sizeof *segs);
  int k = 0;
  for (char *part = strtok(text, ","); part; part = strtok(NULL, ",")) {
    char src[64];
    int port, n;
    if (sscanf(part, "%63[^:]:%d:%d", src, &port, &n) != 3 || n < 0) die("bad --segments");
    loopbackAddr(src, 0, &segs[k].src);
    loopbackAddr(host, port, &segs[k].dst);
    segs[k].count = n;
    count += n;
    k++;
  }
  nsegs = k;
}

int main(int argc, char **argv) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  signal(SIGPIPE, SIG_IGN);
  const char *host = "127.0.0.1", *mode = "lifeline";
  char *segments = NULL;
  intervalMs = 1000;
  connectDeadlineMs = 120000;
  for (int a = 1; a + 1 < argc; a += 2) {
    const char *k = argv[a], *v = argv[a + 1];
    if (!strcmp(k, "--mode")) mode = v;
    else if (!strcmp(k, "--host")) host = v;
    else if (!strcmp(k, "--interval")) intervalMs = atof(v);
    else if (!strcmp(k, "--segments")) segments = strdup(v);
    else if (!strcmp(k, "--hello")) helloLen = hexdecode(v, hello, sizeof hello);
    else if (!strcmp(k, "--ping")) pingLen = hexdecode(v, ping, sizeof ping);
    else if (!strcmp(k, "--pongs")) pongsLen = hexdecode(v, pongs, sizeof pongs);
    else if (!strcmp(k, "--connect-deadline")) connectDeadlineMs = atof(v);
    else if (!strcmp(k, "--in-flight")) maxInFlight = atoi(v);
    else if (!strcmp(k, "--follow")) follow = atoi(v) != 0;
    else die("unknown argument");
  }
  raw = !strcmp(mode, "raw");
  if (!raw && strcmp(mode, "lifeline")) die("--mode must be raw or lifeline");
  if (!segments || !helloLen || !pingLen || (!raw && pongsLen != 64) || intervalMs < 10 || maxInFlight < 1) die("missing or bad arguments");
  parseSegments(segments, host);
  if (count > MAX_CONNS) die("too many connections for one process (max 19000)");

  struct rlimit rl;
  getrlimit(RLIMIT_NOFILE, &rl);
  rl.rlim_cur = rl.rlim_max;
  setrlimit(RLIMIT_NOFILE, &rl);
  if ((long)rl.rlim_cur < count + 16) die("RLIMIT_NOFILE too low for this many connections");

  conns = calloc((size_t)count, sizeof *conns);
  retryQueue = calloc((size_t)count + 1, sizeof *retryQueue);
  int k = 0;
  for (int s = 0; s < nsegs; s++)
    for (int j = 0; j < segs[s].count; j++, k++) {
      conns[k].fd = -1;
      conns[k].slotNext = -1;
      conns[k].seg = (uint16_t)s;
    }
  nslots = (int)ceil(intervalMs / SLOT_MS);
  slotHead = malloc(sizeof(int) * (size_t)nslots);
  for (int s = 0; s < nslots; s++) slotHead[s] = -1;
  srand48((long)getpid() ^ (long)now());

  ep = epoll_create1(EPOLL_CLOEXEC);
  fcntl(0, F_SETFL, fcntl(0, F_GETFL) | O_NONBLOCK);
  struct epoll_event sev = {.events = EPOLLIN, .data.u32 = STDIN_TAG};
  epoll_ctl(ep, EPOLL_CTL_ADD, 0, &sev);

  t0 = now();
  lastSlot = 0;
  double nextProgress = t0 + 500, nextExpire = t0 + 1000;
  char cmd[4096];
  int cmdLen = 0;
  static struct epoll_event events[1024];
  pump();
  for (;;) {
    double t = now();
    double nextSlotAt = t0 + (lastSlot + 1) * SLOT_MS;
    int timeout = (int)ceil(nextSlotAt - t);
    int n = epoll_wait(ep, events, 1024, timeout < 0 ? 0 : timeout);
    for (int e = 0; e < n; e++) {
      if (events[e].data.u32 == STDIN_TAG) {
        ssize_t r = read(0, cmd + cmdLen, sizeof cmd - 1 - (size_t)cmdLen);
        if (r == 0) exit(0);
        if (r < 0) continue;
        cmdLen += (int)r;
        cmd[cmdLen] = 0;
        char *nl;
        while ((nl = strchr(cmd, '\n'))) {
          *nl = 0;
          command(cmd);
          cmdLen -= (int)(nl + 1 - cmd);
          memmove(cmd, nl + 1, (size_t)cmdLen + 1);
        }
        if (cmdLen >= (int)sizeof cmd - 1) cmdLen = 0;
        continue;
      }
      onEvent(events[e].data.u32, events[e].events);
    }
    t = now();
    pingDue(t);
    if (!connectDone) {
      pump();
      if (t >= nextProgress) {
        char line[120];
        snprintf(line, sizeof line, "{\"ev\":\"progress\",\"ready\":%d,\"failed\":%d}", readyCount, failedCount);
        emit(line);
        nextProgress = t + 500;
      }
      if (t >= nextExpire) {
        expireHandshakes(t);
        nextExpire = t + 1000;
      }
      if (t - t0 > connectDeadlineMs) {
        setError("connect deadline reached", ETIMEDOUT);
        finishConnecting();
      }
    }
  }
}
