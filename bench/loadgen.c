/*
 * loadgen: a single-threaded epoll load generator for memcached-compatible servers.
 *
 * Why C: the Python server under test must be the bottleneck, never the client.
 * One thread drives many non-blocking TCP_NODELAY connections; each connection keeps
 * exactly one batch in flight (a batch is 1 request, one multiget, or N pipelined
 * requests sent with one write) and every reply is parsed and verified (key order,
 * value bytes), so a run that "goes fast" by returning garbage is caught.
 *
 * Phases: preload (pipelined sets of keys 0..N-1, every reply must be STORED), verify
 * (pipelined gets of every preloaded key, every one must hit with the right value),
 * then the measured window, bracketed on stdout by "START" and "END" lines so the
 * caller can sample the server's CPU exactly around it. The last stdout line is one
 * JSON object with the counters and the latency percentiles.
 *
 * Latency is measured per batch (send of the first byte to the last reply byte) into
 * log-linear buckets (8 sub-buckets per power of two of nanoseconds, <= 12.5% error).
 * Every phase has a hard deadline; what is still outstanding at the deadline counts
 * as timeouts (errors), and alarm() is a backstop so the process never hangs.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH_MAX 256
#define MAX_KEY 250
#define HIST_SUB 8
#define HIST_BUCKETS (64 * HIST_SUB)

enum workload { W_NONE, W_GETSET, W_MULTIGET, W_PIPEGET, W_SETMIX, W_MG };
enum rtype { R_GET, R_SET, R_MG };
enum phase { P_PRELOAD, P_VERIFY, P_MEASURE };

struct resp {
    enum rtype type;
    int kstart, nkeys;   /* slice of conn->keys this reply answers */
    int vsize;           /* expected value size (gets) */
};

struct conn {
    int fd;
    char *wbuf;
    size_t wlen, woff, wcap;
    char *rbuf;
    size_t rlen, rcap;
    uint64_t keys[BATCH_MAX];
    int vsizes[BATCH_MAX];
    struct resp resps[BATCH_MAX];
    int nresp, ri, kc;   /* replies in batch, current reply, key cursor within it */
    long need;           /* value bytes (+CRLF) still expected, -1 when parsing lines */
    uint64_t cur_key;    /* key of the VALUE/VA payload being read */
    int cur_vsize;
    uint64_t sent_ns;
    int busy;
    uint64_t next_seq, seq_end; /* preload/verify: this connection's key range */
    uint64_t rng;
};

struct counters {
    uint64_t ops, keys, hits, misses, errors, sets, timeouts, bad_values, batches;
};

/* ---- options ---- */
static const char *opt_host = "127.0.0.1";
static int opt_port = 0;
static enum workload opt_work = W_GETSET;
static int opt_conns = 50;
static double opt_duration = 5.0;
static uint64_t opt_nkeys = 100000;
static int opt_keysize = 32;
static int opt_valsize = 100;
static int opt_depth = 32;     /* pipelined requests per send (pipeget, mg) */
static int opt_mkeys = 20;     /* keys per multiget */
static int opt_preload = -1;   /* -1: by workload */
static double opt_preload_timeout = 600.0;
static uint64_t opt_seed = 12345;
static uint64_t opt_setmix_keys = 1000000;
static int opt_setmix_sizes[] = {100, 300, 700, 1500, 3000, 6000, 12000, 30000};
#define N_SETMIX_SIZES ((int)(sizeof(opt_setmix_sizes) / sizeof(opt_setmix_sizes[0])))

static struct counters ctr;
static uint64_t hist[HIST_BUCKETS];
static enum phase phase;
static int running;            /* issue new batches */
static char *filler;           /* value bytes after the key prefix */
static int epfd;

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void die(const char *msg) {
    fprintf(stderr, "loadgen: %s: %s\n", msg, strerror(errno));
    exit(2);
}

static uint64_t xorshift(uint64_t *s) {
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

/* Keys are fixed width: "key:" then zero-padded decimal, opt_keysize bytes in all. */
static int fmt_key(char *out, uint64_t idx) {
    memcpy(out, "key:", 4);
    for (int i = opt_keysize - 1; i >= 4; i--) {
        out[i] = (char)('0' + idx % 10);
        idx /= 10;
    }
    return opt_keysize;
}

static void hist_add(uint64_t ns) {
    if (ns < HIST_SUB) {
        hist[ns]++;
        return;
    }
    int msb = 63 - __builtin_clzll(ns);
    int sub = (int)((ns >> (msb - 3)) & (HIST_SUB - 1));
    hist[(msb - 2) * HIST_SUB + sub]++;
}

/* Upper edge of a bucket, in ns: reported percentiles never understate latency. */
static double hist_edge(int b) {
    if (b < HIST_SUB) return (double)b + 1;
    int msb = b / HIST_SUB + 2, sub = b % HIST_SUB;
    return (double)(((uint64_t)(HIST_SUB + sub + 1)) << (msb - 3));
}

static double hist_pct(double p) {
    uint64_t total = 0, acc = 0;
    for (int i = 0; i < HIST_BUCKETS; i++) total += hist[i];
    if (!total) return 0;
    uint64_t want = (uint64_t)(p * (double)total);
    if (want >= total) want = total - 1;
    for (int i = 0; i < HIST_BUCKETS; i++) {
        acc += hist[i];
        if (acc > want) return hist_edge(i);
    }
    return 0;
}

/* ---- write side ---- */
static void wput(struct conn *c, const char *p, size_t n) {
    if (c->wlen + n > c->wcap) {
        while (c->wlen + n > c->wcap) c->wcap *= 2;
        c->wbuf = realloc(c->wbuf, c->wcap);
        if (!c->wbuf) die("realloc");
    }
    memcpy(c->wbuf + c->wlen, p, n);
    c->wlen += n;
}

static void wnum(struct conn *c, long v) {
    char tmp[32];
    int n = snprintf(tmp, sizeof tmp, "%ld", v);
    wput(c, tmp, (size_t)n);
}

static void add_get(struct conn *c, uint64_t key, int vsize) {
    char kb[MAX_KEY];
    fmt_key(kb, key);
    int k = c->nresp;
    c->keys[k] = key;
    c->vsizes[k] = vsize;
    c->resps[c->nresp++] = (struct resp){R_GET, k, 1, vsize};
    wput(c, "get ", 4);
    wput(c, kb, (size_t)opt_keysize);
    wput(c, "\r\n", 2);
}

static void add_mg(struct conn *c, uint64_t key, int vsize) {
    char kb[MAX_KEY];
    fmt_key(kb, key);
    int k = c->nresp;
    c->keys[k] = key;
    c->vsizes[k] = vsize;
    c->resps[c->nresp++] = (struct resp){R_MG, k, 1, vsize};
    wput(c, "mg ", 3);
    wput(c, kb, (size_t)opt_keysize);
    wput(c, " v\r\n", 4);
}

/* Values start with their own key so a reply for the wrong key can never pass. */
static void add_set(struct conn *c, uint64_t key, int vsize) {
    char kb[MAX_KEY];
    fmt_key(kb, key);
    c->resps[c->nresp++] = (struct resp){R_SET, 0, 0, vsize};
    wput(c, "set ", 4);
    wput(c, kb, (size_t)opt_keysize);
    wput(c, " 0 0 ", 5);
    wnum(c, vsize);
    wput(c, "\r\n", 2);
    int pre = vsize < opt_keysize ? vsize : opt_keysize;
    wput(c, kb, (size_t)pre);
    wput(c, filler, (size_t)(vsize - pre));
    wput(c, "\r\n", 2);
}

static void add_multiget(struct conn *c, int n) {
    char kb[MAX_KEY];
    c->resps[c->nresp] = (struct resp){R_GET, 0, n, opt_valsize};
    c->nresp++;
    wput(c, "get", 3);
    for (int i = 0; i < n; i++) {
        uint64_t key = xorshift(&c->rng) % opt_nkeys;
        c->keys[i] = key;
        c->vsizes[i] = opt_valsize;
        fmt_key(kb, key);
        wput(c, " ", 1);
        wput(c, kb, (size_t)opt_keysize);
    }
    wput(c, "\r\n", 2);
}

static void set_events(struct conn *c, uint32_t ev) {
    struct epoll_event e = {.events = ev, .data.ptr = c};
    if (epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &e) < 0) die("epoll_ctl");
}

static int flush_conn(struct conn *c) {
    while (c->woff < c->wlen) {
        ssize_t n = write(c->fd, c->wbuf + c->woff, c->wlen - c->woff);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR) {
                set_events(c, EPOLLIN | EPOLLOUT);
                return 0;
            }
            return -1;
        }
        c->woff += (size_t)n;
    }
    c->wlen = c->woff = 0;
    return 0;
}

/* Builds and sends the next batch for this connection; returns 0 if there is none. */
static int issue(struct conn *c) {
    c->nresp = c->ri = c->kc = 0;
    c->need = -1;
    if (phase == P_PRELOAD || phase == P_VERIFY) {
        if (c->next_seq >= c->seq_end) return 0;
        for (int i = 0; i < BATCH_MAX / 2 && c->next_seq < c->seq_end; i++) {
            if (phase == P_PRELOAD)
                add_set(c, c->next_seq++, opt_valsize);
            else
                add_get(c, c->next_seq++, opt_valsize);
        }
    } else {
        if (!running) return 0;
        switch (opt_work) {
        case W_GETSET: {
            uint64_t key = xorshift(&c->rng) % opt_nkeys;
            if (xorshift(&c->rng) % 10 == 0)
                add_set(c, key, opt_valsize);
            else
                add_get(c, key, opt_valsize);
            break;
        }
        case W_MULTIGET:
            add_multiget(c, opt_mkeys);
            break;
        case W_PIPEGET:
        case W_MG:
            for (int i = 0; i < opt_depth; i++) {
                uint64_t key = xorshift(&c->rng) % opt_nkeys;
                if (opt_work == W_MG)
                    add_mg(c, key, opt_valsize);
                else
                    add_get(c, key, opt_valsize);
            }
            break;
        case W_SETMIX: {
            uint64_t key = xorshift(&c->rng) % opt_setmix_keys;
            int vs = opt_setmix_sizes[xorshift(&c->rng) % N_SETMIX_SIZES];
            add_set(c, key, vs);
            break;
        }
        case W_NONE:
            return 0;
        }
    }
    c->busy = 1;
    c->sent_ns = now_ns();
    if (flush_conn(c) < 0) return -1;
    return 1;
}

/* ---- read side ---- */
static int value_ok(const char *data, long n, uint64_t key, int vsize) {
    if (n != vsize) return 0;
    char kb[MAX_KEY];
    fmt_key(kb, key);
    int pre = vsize < opt_keysize ? vsize : opt_keysize;
    return memcmp(data, kb, (size_t)pre) == 0 &&
           memcmp(data + pre, filler, (size_t)(vsize - pre)) == 0;
}

static int measuring(void) { return phase == P_MEASURE; }

static void count_miss(int n) { ctr.misses += (uint64_t)n; }

static void finish_resp(struct conn *c) {
    struct resp *r = &c->resps[c->ri];
    if (r->type == R_GET && c->kc < r->nkeys) count_miss(r->nkeys - c->kc);
    c->ri++;
    c->kc = 0;
}

static int keyeq(const char *p, size_t n, uint64_t key) {
    char kb[MAX_KEY];
    if ((int)n != opt_keysize) return 0;
    fmt_key(kb, key);
    return memcmp(p, kb, n) == 0;
}

/* Parses all complete replies in rbuf; returns bytes consumed. */
static size_t parse(struct conn *c) {
    size_t pos = 0;
    while (c->ri < c->nresp) {
        struct resp *r = &c->resps[c->ri];
        if (c->need >= 0) {
            if (c->rlen - pos < (size_t)c->need + 2) break;
            const char *d = c->rbuf + pos;
            if (d[c->need] != '\r' || d[c->need + 1] != '\n' ||
                !value_ok(d, c->need, c->cur_key, c->cur_vsize)) {
                ctr.bad_values++;
                ctr.errors++;
            } else {
                ctr.hits++;
            }
            pos += (size_t)c->need + 2;
            c->need = -1;
            if (r->type == R_MG) finish_resp(c);
            continue;
        }
        char *line = c->rbuf + pos;
        char *nl = memchr(line, '\n', c->rlen - pos);
        if (!nl) break;
        size_t ll = (size_t)(nl - line);
        if (ll == 0 || line[ll - 1] != '\r') {
            ctr.errors++;
            pos += ll + 1;
            finish_resp(c);
            continue;
        }
        ll--;
        pos += ll + 2;
        if (r->type == R_SET) {
            if (ll == 6 && memcmp(line, "STORED", 6) == 0)
                ctr.sets++;
            else
                ctr.errors++;
            finish_resp(c);
        } else if (r->type == R_MG) {
            if (ll >= 3 && memcmp(line, "VA ", 3) == 0) {
                c->need = strtol(line + 3, NULL, 10);
                c->cur_key = c->keys[r->kstart];
                c->cur_vsize = c->vsizes[r->kstart];
            } else if (ll == 2 && memcmp(line, "EN", 2) == 0) {
                count_miss(1);
                finish_resp(c);
            } else {
                ctr.errors++;
                finish_resp(c);
            }
        } else if (ll >= 6 && memcmp(line, "VALUE ", 6) == 0) {
            /* VALUE <key> <flags> <bytes>: the key must be the next one requested
             * (possibly after misses, which the server skips). */
            char *k = line + 6, *sp = memchr(k, ' ', ll - 6);
            if (!sp) {
                ctr.errors++;
                finish_resp(c);
                continue;
            }
            int found = 0;
            while (c->kc < r->nkeys) {
                if (keyeq(k, (size_t)(sp - k), c->keys[r->kstart + c->kc])) {
                    found = 1;
                    break;
                }
                count_miss(1);
                c->kc++;
            }
            char *sp2 = memchr(sp + 1, ' ', (size_t)(line + ll - sp - 1));
            if (!found || !sp2) {
                ctr.errors++;
                c->need = sp2 ? strtol(sp2 + 1, NULL, 10) : 0;
                c->cur_key = UINT64_MAX;
                c->cur_vsize = -1;
                continue;
            }
            c->need = strtol(sp2 + 1, NULL, 10);
            c->cur_key = c->keys[r->kstart + c->kc];
            c->cur_vsize = c->vsizes[r->kstart + c->kc];
            c->kc++;
        } else if (ll == 3 && memcmp(line, "END", 3) == 0) {
            finish_resp(c);
        } else {
            ctr.errors++;
            finish_resp(c);
        }
    }
    return pos;
}

static void batch_done(struct conn *c) {
    c->busy = 0;
    if (measuring()) {
        hist_add(now_ns() - c->sent_ns);
        ctr.batches++;
        for (int i = 0; i < c->nresp; i++) {
            ctr.ops++;
            ctr.keys += c->resps[i].type == R_SET ? 1 : (uint64_t)c->resps[i].nkeys;
        }
    }
}

static int on_readable(struct conn *c) {
    for (;;) {
        if (c->rcap - c->rlen < 65536) {
            c->rcap *= 2;
            c->rbuf = realloc(c->rbuf, c->rcap);
            if (!c->rbuf) die("realloc");
        }
        size_t room = c->rcap - c->rlen;
        ssize_t n = read(c->fd, c->rbuf + c->rlen, room);
        if (n == 0) return -1;
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR) break;
            return -1;
        }
        c->rlen += (size_t)n;
        if ((size_t)n < room) break; /* drained the socket: skip the EAGAIN syscall */
    }
    size_t used = parse(c);
    if (used) {
        memmove(c->rbuf, c->rbuf + used, c->rlen - used);
        c->rlen -= used;
    }
    if (c->busy && c->ri >= c->nresp) {
        if (c->rlen) {
            ctr.errors++; /* bytes nobody asked for */
            c->rlen = 0;
        }
        batch_done(c);
        if (issue(c) < 0) return -1;
    }
    return 0;
}

/* ---- connections and phases ---- */
static struct conn *conns;

static void open_conns(void) {
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)opt_port)};
    if (inet_pton(AF_INET, opt_host, &sa.sin_addr) != 1) {
        fprintf(stderr, "loadgen: bad host %s\n", opt_host);
        exit(2);
    }
    conns = calloc((size_t)opt_conns, sizeof *conns);
    for (int i = 0; i < opt_conns; i++) {
        struct conn *c = &conns[i];
        c->fd = socket(AF_INET, SOCK_STREAM, 0);
        if (c->fd < 0) die("socket");
        if (connect(c->fd, (struct sockaddr *)&sa, sizeof sa) < 0) die("connect");
        int one = 1;
        setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
        c->wcap = 1 << 16;
        c->wbuf = malloc(c->wcap);
        c->rcap = 1 << 17;
        c->rbuf = malloc(c->rcap);
        c->rng = opt_seed * 2654435761u + (uint64_t)i * 0x9E3779B97F4A7C15ull + 1;
        struct epoll_event e = {.events = EPOLLIN, .data.ptr = c};
        if (epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &e) < 0) die("epoll_ctl");
    }
}

static int any_busy(void) {
    for (int i = 0; i < opt_conns; i++)
        if (conns[i].busy) return 1;
    return 0;
}

/* Runs the event loop until nothing is in flight (or issuing stops and the grace
 * period ends). Returns the number of batches still outstanding at the deadline. */
static int loop(uint64_t stop_issuing_at, uint64_t hard_deadline) {
    struct epoll_event evs[256];
    for (;;) {
        uint64_t t = now_ns();
        if (running && t >= stop_issuing_at) {
            running = 0;
            if (phase == P_MEASURE) {
                printf("END\n");
                fflush(stdout);
            }
        }
        if (!any_busy()) return 0;
        if (t >= hard_deadline) break;
        int n = epoll_wait(epfd, evs, 256, 10);
        if (n < 0 && errno != EINTR) die("epoll_wait");
        for (int i = 0; i < n; i++) {
            struct conn *c = evs[i].data.ptr;
            if (evs[i].events & EPOLLOUT) {
                if (flush_conn(c) < 0) goto dead;
                if (c->woff == 0 && c->wlen == 0) set_events(c, EPOLLIN);
            }
            if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
                if (on_readable(c) < 0) goto dead;
            }
            continue;
        dead:
            fprintf(stderr, "loadgen: connection closed by server\n");
            ctr.errors++;
            epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
            close(c->fd);
            c->busy = 0;
        }
    }
    int outstanding = 0;
    for (int i = 0; i < opt_conns; i++) outstanding += conns[i].busy;
    return outstanding;
}

static int run_seq_phase(enum phase p, uint64_t n, double timeout_s) {
    phase = p;
    running = 1;
    uint64_t per = (n + (uint64_t)opt_conns - 1) / (uint64_t)opt_conns;
    for (int i = 0; i < opt_conns; i++) {
        conns[i].next_seq = (uint64_t)i * per;
        conns[i].seq_end = conns[i].next_seq + per > n ? n : conns[i].next_seq + per;
        if (conns[i].next_seq > n) conns[i].next_seq = n;
        issue(&conns[i]);
    }
    uint64_t deadline = now_ns() + (uint64_t)(timeout_s * 1e9);
    int left = loop(UINT64_MAX, deadline);
    running = 0;
    return left;
}

static const char *wname(enum workload w) {
    static const char *names[] = {"none", "getset", "multiget", "pipeget", "setmix", "mg"};
    return names[w];
}

static void usage(void) {
    fprintf(stderr,
            "usage: loadgen -p PORT [-H host] [-w none|getset|multiget|pipeget|setmix|mg]\n"
            "  [-c conns=50] [-d seconds=5] [-n keys=100000] [-k keysize=32] [-v valsize=100]\n"
            "  [-D depth=32] [-m multiget_keys=20] [-P 0|1 preload] [-T preload_timeout=600]\n"
            "  [-S seed] [-K setmix_keyspace=1000000]\n");
    exit(2);
}

int main(int argc, char **argv) {
    int ch;
    while ((ch = getopt(argc, argv, "H:p:w:c:d:n:k:v:D:m:P:T:S:K:h")) != -1) {
        switch (ch) {
        case 'H': opt_host = optarg; break;
        case 'p': opt_port = atoi(optarg); break;
        case 'w':
            if (!strcmp(optarg, "none")) opt_work = W_NONE;
            else if (!strcmp(optarg, "getset")) opt_work = W_GETSET;
            else if (!strcmp(optarg, "multiget")) opt_work = W_MULTIGET;
            else if (!strcmp(optarg, "pipeget")) opt_work = W_PIPEGET;
            else if (!strcmp(optarg, "setmix")) opt_work = W_SETMIX;
            else if (!strcmp(optarg, "mg")) opt_work = W_MG;
            else usage();
            break;
        case 'c': opt_conns = atoi(optarg); break;
        case 'd': opt_duration = atof(optarg); break;
        case 'n': opt_nkeys = strtoull(optarg, NULL, 10); break;
        case 'k': opt_keysize = atoi(optarg); break;
        case 'v': opt_valsize = atoi(optarg); break;
        case 'D': opt_depth = atoi(optarg); break;
        case 'm': opt_mkeys = atoi(optarg); break;
        case 'P': opt_preload = atoi(optarg); break;
        case 'T': opt_preload_timeout = atof(optarg); break;
        case 'S': opt_seed = strtoull(optarg, NULL, 10); break;
        case 'K': opt_setmix_keys = strtoull(optarg, NULL, 10); break;
        default: usage();
        }
    }
    if (opt_port <= 0 || opt_conns < 1 || opt_keysize < 8 || opt_keysize > MAX_KEY ||
        opt_depth < 1 || opt_depth > BATCH_MAX / 2 || opt_mkeys < 1 ||
        opt_mkeys > BATCH_MAX || opt_nkeys < 1 || opt_valsize < 1)
        usage();
    if (opt_preload < 0) opt_preload = opt_work != W_SETMIX;
    int maxv = opt_valsize;
    for (int i = 0; i < N_SETMIX_SIZES; i++)
        if (opt_setmix_sizes[i] > maxv) maxv = opt_setmix_sizes[i];
    filler = malloc((size_t)maxv);
    for (int i = 0; i < maxv; i++) filler[i] = (char)('a' + i % 26);

    /* Backstop: whatever the server does, this process ends. */
    double budget = opt_duration + 10 + (opt_preload ? 2 * opt_preload_timeout : 0);
    alarm((unsigned)budget + 1);

    epfd = epoll_create1(0);
    if (epfd < 0) die("epoll_create1");
    open_conns();

    int rc = 0;
    double preload_s = 0, verify_s = 0;
    if (opt_preload) {
        uint64_t t0 = now_ns();
        int left = run_seq_phase(P_PRELOAD, opt_nkeys, opt_preload_timeout);
        preload_s = (double)(now_ns() - t0) / 1e9;
        if (left || ctr.errors || ctr.sets != opt_nkeys) {
            fprintf(stderr, "loadgen: preload failed: stored %llu of %llu, errors %llu, "
                    "outstanding %d\n", (unsigned long long)ctr.sets,
                    (unsigned long long)opt_nkeys, (unsigned long long)ctr.errors, left);
            return 3;
        }
        t0 = now_ns();
        left = run_seq_phase(P_VERIFY, opt_nkeys, opt_preload_timeout);
        verify_s = (double)(now_ns() - t0) / 1e9;
        if (left || ctr.errors || ctr.hits != opt_nkeys) {
            fprintf(stderr, "loadgen: preload verify failed: %llu of %llu hits, %llu misses, "
                    "errors %llu, outstanding %d\n", (unsigned long long)ctr.hits,
                    (unsigned long long)opt_nkeys, (unsigned long long)ctr.misses,
                    (unsigned long long)ctr.errors, left);
            return 3;
        }
        fprintf(stderr, "loadgen: preloaded and verified %llu keys (%.2fs + %.2fs)\n",
                (unsigned long long)opt_nkeys, preload_s, verify_s);
    }
    uint64_t preloaded = opt_preload ? opt_nkeys : 0;
    memset(&ctr, 0, sizeof ctr);

    double elapsed = 0;
    struct rusage ru0, ru1;
    getrusage(RUSAGE_SELF, &ru0);
    if (opt_work != W_NONE) {
        phase = P_MEASURE;
        running = 1;
        printf("START\n");
        fflush(stdout);
        uint64_t t0 = now_ns();
        uint64_t stop = t0 + (uint64_t)(opt_duration * 1e9);
        for (int i = 0; i < opt_conns; i++) issue(&conns[i]);
        int left = loop(stop, stop + 2000000000ull);
        /* Throughput counts only the measured window; the drain is grace time. */
        elapsed = (double)(stop - t0) / 1e9;
        ctr.timeouts = (uint64_t)left;
        ctr.errors += ctr.timeouts;
    }
    getrusage(RUSAGE_SELF, &ru1);
    double cpu = (double)(ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec) +
                 (double)(ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec) / 1e6 +
                 (double)(ru1.ru_stime.tv_sec - ru0.ru_stime.tv_sec) +
                 (double)(ru1.ru_stime.tv_usec - ru0.ru_stime.tv_usec) / 1e6;

    if (opt_work != W_NONE && opt_work != W_SETMIX && ctr.misses) rc = 1;
    if (ctr.errors) rc = 1;
    if (opt_work != W_NONE && ctr.ops == 0) rc = 1;
    printf("{\"workload\": \"%s\", \"conns\": %d, \"duration_s\": %.6f, \"preloaded\": %llu, "
           "\"preload_s\": %.3f, \"verify_s\": %.3f, \"ops\": %llu, \"keys\": %llu, "
           "\"batches\": %llu, \"hits\": %llu, \"misses\": %llu, \"sets\": %llu, "
           "\"errors\": %llu, \"timeouts\": %llu, \"bad_values\": %llu, "
           "\"ops_per_s\": %.1f, \"keys_per_s\": %.1f, \"p50_us\": %.1f, \"p99_us\": %.1f, "
           "\"p999_us\": %.1f, \"loadgen_cpu_s\": %.3f, \"ok\": %s}\n",
           wname(opt_work), opt_conns, elapsed, (unsigned long long)preloaded, preload_s,
           verify_s, (unsigned long long)ctr.ops, (unsigned long long)ctr.keys,
           (unsigned long long)ctr.batches, (unsigned long long)ctr.hits,
           (unsigned long long)ctr.misses, (unsigned long long)ctr.sets,
           (unsigned long long)ctr.errors, (unsigned long long)ctr.timeouts,
           (unsigned long long)ctr.bad_values, elapsed > 0 ? (double)ctr.ops / elapsed : 0,
           elapsed > 0 ? (double)ctr.keys / elapsed : 0, hist_pct(0.50) / 1e3,
           hist_pct(0.99) / 1e3, hist_pct(0.999) / 1e3, cpu, rc ? "false" : "true");
    if (rc)
        fprintf(stderr, "loadgen: run rejected: %llu errors (%llu timeouts), %llu misses\n",
                (unsigned long long)ctr.errors, (unsigned long long)ctr.timeouts,
                (unsigned long long)ctr.misses);
    return rc;
}
