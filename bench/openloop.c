/*
 * openloop: an open-loop HTTP/1.1 load generator with a fixed arrival schedule.
 *
 * Request i is due at start + offset + i / rate, whatever the server does: it is sent at
 * once on an idle keep-alive connection, or waits for the first connection to free up.
 * Its latency runs from the time it was due, not from the time it was sent, so a server
 * that stalls is charged for every request that should have gone out meanwhile
 * (coordinated omission corrected, as wrk2 does). wrk is closed-loop (a connection sends
 * only after its answer), and wrk2, which has the fixed schedule, is packaged neither by
 * Debian nor by PyPI: hence this small generator, compiled by bench/api.py with the system
 * C compiler.
 *
 * Usage: openloop HOST PORT RATE DURATION_S OFFSET_S CONNECTIONS PATHS_FILE KEYS_FILE OUT
 *   PATHS_FILE: one path per line (requests rotate through them);
 *   KEYS_FILE: one API key per line, sent as X-API-Key in rotation ("-" for none);
 *   OUT: one line per request: "due_us latency_us status" (status 0: no answer, the
 *        connection failed); due_us counts from the common start (offset included).
 * The start is the CLOCK_MONOTONIC second given in the environment as OPENLOOP_T0
 * (so that two generators share one schedule), or now.
 */
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
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_LINES 4096
#define BUF 65536

typedef struct {
    int fd;
    int busy;          /* a request is out on it */
    long req;          /* the request it carries */
    size_t have;       /* bytes of the answer read so far */
    char buf[BUF];
} conn_t;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int read_lines(const char *path, char **out) {
    if (strcmp(path, "-") == 0) return 0;
    FILE *f = fopen(path, "r");
    if (!f) { perror(path); exit(2); }
    char line[1024];
    int n = 0;
    while (n < MAX_LINES && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = 0;
        if (line[0]) out[n++] = strdup(line);
    }
    fclose(f);
    return n;
}

static struct sockaddr_in addr;
static int ep;

static int connect_one(conn_t *c, int index) {
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    if (c->fd < 0) return -1;
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(c->fd, (struct sockaddr *)&addr, sizeof addr) < 0) { close(c->fd); c->fd = -1; return -1; }
    fcntl(c->fd, F_SETFL, O_NONBLOCK);
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)index};
    epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
    c->busy = 0;
    c->have = 0;
    return 0;
}

/* Length of a complete answer in buf, 0 while incomplete, -1 when unparseable. */
static long answer_length(const char *buf, size_t have, int *status) {
    const char *end = memmem(buf, have, "\r\n\r\n", 4);
    if (!end) return have >= BUF ? -1 : 0;
    if (have < 12 || strncmp(buf, "HTTP/1.", 7) != 0) return -1;
    *status = atoi(buf + 9);
    long length = -1;
    for (const char *p = buf; p < end; p++) {
        if ((p == buf || p[-1] == '\n') && strncasecmp(p, "content-length:", 15) == 0) {
            length = atol(p + 15);
            break;
        }
    }
    if (length < 0) return -1;
    long total = (end - buf) + 4 + length;
    return (size_t)total <= have ? total : 0;
}

int main(int argc, char **argv) {
    if (argc != 10) {
        fprintf(stderr, "usage: openloop HOST PORT RATE DURATION_S OFFSET_S CONNECTIONS PATHS KEYS OUT\n");
        return 2;
    }
    double rate = atof(argv[3]), duration = atof(argv[4]), offset = atof(argv[5]);
    int nconn = atoi(argv[6]);
    char *paths[MAX_LINES], *keys[MAX_LINES];
    int npaths = read_lines(argv[7], paths), nkeys = read_lines(argv[8], keys);
    FILE *out = fopen(argv[9], "w");
    if (!out || npaths == 0 || rate <= 0 || nconn <= 0) { fprintf(stderr, "openloop: bad arguments\n"); return 2; }

    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)atoi(argv[2]));
    if (inet_pton(AF_INET, argv[1], &addr.sin_addr) != 1) { fprintf(stderr, "openloop: bad host\n"); return 2; }
    ep = epoll_create1(0);
    conn_t *conns = calloc((size_t)nconn, sizeof(conn_t));
    for (int i = 0; i < nconn; i++)
        if (connect_one(&conns[i], i) < 0) { perror("connect"); return 1; }

    long total = (long)(rate * duration);
    double *due = malloc(sizeof(double) * (size_t)(total + 1));
    double *lat = malloc(sizeof(double) * (size_t)(total + 1));
    int *status = calloc((size_t)(total + 1), sizeof(int));
    const char *t0env = getenv("OPENLOOP_T0");
    double t0 = (t0env ? atof(t0env) : now_s()) + offset;
    for (long i = 0; i < total; i++) { due[i] = t0 + i / rate; lat[i] = -1; }

    long next = 0;      /* the next request to send (all before it are sent) */
    long done = 0;
    char req[2048];
    struct epoll_event events[256];
    double give_up = t0 + duration + 10.0; /* answers later than 10 s count as lost */

    while (done < total && now_s() < give_up) {
        double t = now_s();
        /* Send every due request that finds an idle connection, oldest first. */
        for (int i = 0; i < nconn && next < total && due[next] <= t; i++) {
            conn_t *c = &conns[i];
            if (c->busy || c->fd < 0) continue;
            const char *key = nkeys ? keys[next % nkeys] : NULL;
            int len = snprintf(req, sizeof req,
                               "GET %s HTTP/1.1\r\nHost: %s:%s\r\n%s%s%s\r\n",
                               paths[next % npaths], argv[1], argv[2],
                               key ? "X-API-Key: " : "", key ? key : "", key ? "\r\n" : "");
            if (write(c->fd, req, (size_t)len) != len) {
                /* A broken connection: reconnect and retry this request on the next pass. */
                epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
                close(c->fd);
                connect_one(c, i);
                continue;
            }
            c->busy = 1;
            c->req = next++;
            c->have = 0;
        }
        double wait_s = next < total ? due[next] - now_s() : 0.05;
        int any_idle = 0;
        for (int i = 0; i < nconn; i++) if (!conns[i].busy) { any_idle = 1; break; }
        if (!any_idle || wait_s > 0.05) wait_s = 0.05;  /* an answer frees a connection */
        int timeout_ms = wait_s > 0 ? (int)(wait_s * 1000) : 0;
        int n = epoll_wait(ep, events, 256, timeout_ms);
        double got = now_s();
        for (int k = 0; k < n; k++) {
            conn_t *c = &conns[events[k].data.u32];
            ssize_t r = read(c->fd, c->buf + c->have, BUF - c->have);
            if (r <= 0) {
                if (r < 0 && (errno == EAGAIN || errno == EINTR)) continue;
                if (c->busy) { lat[c->req] = got - due[c->req]; status[c->req] = 0; done++; }
                epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
                close(c->fd);
                connect_one(c, (int)events[k].data.u32);
                continue;
            }
            c->have += (size_t)r;
            int st = 0;
            long length = answer_length(c->buf, c->have, &st);
            if (length == 0) continue;
            if (c->busy) {
                lat[c->req] = got - due[c->req];
                status[c->req] = length < 0 ? 0 : st;
                done++;
                c->busy = 0;
            }
            if (length < 0 || (size_t)length != c->have) {
                /* Unparseable or more than one answer: start the connection afresh. */
                epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
                close(c->fd);
                connect_one(c, (int)events[k].data.u32);
            }
            c->have = 0;
        }
    }
    for (long i = 0; i < total; i++)
        fprintf(out, "%.0f %.0f %d\n", (due[i] - t0 + offset) * 1e6, lat[i] < 0 ? -1.0 : lat[i] * 1e6,
                status[i]);
    fclose(out);
    return 0;
}
