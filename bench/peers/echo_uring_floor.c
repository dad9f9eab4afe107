/* The io_uring floor of the echo benchmarks (compare.py echo, row "uring-floor"): a hand-written C
 * echo server on one io_uring, the least an io_uring design must do, beside echo_floor.c, the
 * least an epoll one must. One ring (single issuer, deferred task work where the kernel has it),
 * one multishot accept, per connection one multishot receive into buffers the kernel picks from a
 * provided-buffer ring, and one send at a time per connection from the buffer the bytes came in
 * (the next buffers wait in the connection's queue; a buffer goes back to the ring once sent). The
 * sockets are registered files. One io_uring_submit_and_wait per loop iteration: no system call per
 * operation. Listens on 127.0.0.1:PORT (backlog 1024); exits with status 0 on SIGINT or SIGTERM.
 * Usage: echo_uring_floor PORT */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

enum {
  kRingEntries = 4096,
  kBufferCount = 2048, /* a power of two (the buffer ring's size); more than connections */
  kBufferSize = 65536, /* as echo_floor.c reads: a 64 KiB message in one receive */
  kBufferGroup = 0,
  kMaxConnections = 4096 /* also the registered file table's size */
};

/* What a completion is for: the low 3 bits of its user_data; the rest is a connection's slot. */
enum kind { kAccept, kSignal, kReceive, kSend };

struct pending_send { /* a received buffer waiting to be sent back, in arrival order */
  unsigned short buffer;
  unsigned length;
  struct pending_send *next;
};

struct connection {
  int fd;        /* -1: the slot is free */
  int closing;   /* the peer closed, or an error came: no more receives, closed once idle */
  int receiving; /* a multishot receive is armed */
  int sending;   /* a send is in flight: the head of the queue, from offset `sent` */
  unsigned sent;
  struct pending_send *head, *tail;
};

static struct io_uring ring;
static struct io_uring_buf_ring *buffers;
static char *buffer_memory;
static struct connection connections[kMaxConnections];
static struct pending_send *free_sends;

static void die(const char *what, int error) {
  fprintf(stderr, "echo_uring_floor: %s: %s\n", what, strerror(error));
  exit(1);
}

static struct io_uring_sqe *next_sqe(void) {
  struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
  if (sqe == NULL) { /* the submission queue is full: hand it to the kernel and go on */
    io_uring_submit(&ring);
    sqe = io_uring_get_sqe(&ring);
    if (sqe == NULL) die("io_uring_get_sqe", EBUSY);
  }
  return sqe;
}

static uint64_t tag(enum kind kind, unsigned slot) { return (uint64_t)slot << 3 | kind; }

static void give_back(unsigned short id) {
  io_uring_buf_ring_add(buffers, buffer_memory + (size_t)id * kBufferSize, kBufferSize, id,
                        io_uring_buf_ring_mask(kBufferCount), 0);
  io_uring_buf_ring_advance(buffers, 1);
}

static void arm_receive(unsigned slot) {
  struct io_uring_sqe *sqe = next_sqe();
  io_uring_prep_recv_multishot(sqe, (int)slot, NULL, 0, 0);
  sqe->flags |= IOSQE_FIXED_FILE | IOSQE_BUFFER_SELECT;
  sqe->buf_group = kBufferGroup;
  io_uring_sqe_set_data64(sqe, tag(kReceive, slot));
  connections[slot].receiving = 1;
}

static void send_head(unsigned slot) {
  struct connection *c = &connections[slot];
  struct io_uring_sqe *sqe = next_sqe();
  io_uring_prep_send(sqe, (int)slot, buffer_memory + (size_t)c->head->buffer * kBufferSize + c->sent,
                     c->head->length - c->sent, MSG_NOSIGNAL);
  sqe->flags |= IOSQE_FIXED_FILE;
  io_uring_sqe_set_data64(sqe, tag(kSend, slot));
  c->sending = 1;
}

/* Ends a connection: at once when nothing is in flight, else when the last completion comes. */
static void close_connection(unsigned slot) {
  struct connection *c = &connections[slot];
  if (!c->closing) {
    c->closing = 1;
    if (c->receiving) shutdown(c->fd, SHUT_RDWR); /* ends the multishot receive */
  }
  if (c->receiving || c->sending) return;
  while (c->head) {
    struct pending_send *p = c->head;
    c->head = p->next;
    give_back(p->buffer);
    p->next = free_sends;
    free_sends = p;
  }
  int none = -1;
  io_uring_register_files_update(&ring, slot, &none, 1);
  close(c->fd);
  c->fd = -1;
}

static void on_accept(int fd) {
  if (fd < 0 || fd >= kMaxConnections) {
    if (fd >= 0) close(fd);
    return;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  /* The fd itself is the slot: accept gives the lowest free number, so slots stay dense. */
  unsigned slot = (unsigned)fd;
  int error = io_uring_register_files_update(&ring, slot, &fd, 1);
  if (error < 0) die("io_uring_register_files_update", -error);
  connections[slot] = (struct connection){.fd = fd};
  arm_receive(slot);
}

static void on_receive(unsigned slot, const struct io_uring_cqe *cqe) {
  struct connection *c = &connections[slot];
  if (!(cqe->flags & IORING_CQE_F_MORE)) c->receiving = 0;
  if (cqe->res == -ENOBUFS && !c->closing) { /* the ring ran dry: the sends in flight give back */
    arm_receive(slot);
    return;
  }
  if (cqe->res <= 0 || c->closing) { /* the peer closed, an error, or a receive after either */
    if (cqe->res > 0) give_back((unsigned short)(cqe->flags >> IORING_CQE_BUFFER_SHIFT));
    close_connection(slot);
    return;
  }
  struct pending_send *p = free_sends;
  if (p) free_sends = p->next;
  else if ((p = malloc(sizeof *p)) == NULL) die("malloc", ENOMEM);
  *p = (struct pending_send){.buffer = (unsigned short)(cqe->flags >> IORING_CQE_BUFFER_SHIFT),
                             .length = (unsigned)cqe->res};
  if (c->tail) c->tail->next = p;
  else c->head = p;
  c->tail = p;
  if (!c->sending) {
    c->sent = 0;
    send_head(slot);
  }
  if (!c->receiving) arm_receive(slot);
}

static void on_send(unsigned slot, int result) {
  struct connection *c = &connections[slot];
  c->sending = 0;
  if (result <= 0 || c->closing) {
    close_connection(slot);
    return;
  }
  c->sent += (unsigned)result;
  if (c->sent < c->head->length) { /* a short send: the rest */
    send_head(slot);
    return;
  }
  struct pending_send *p = c->head;
  c->head = p->next;
  if (c->head == NULL) c->tail = NULL;
  give_back(p->buffer);
  p->next = free_sends;
  free_sends = p;
  if (c->head) {
    c->sent = 0;
    send_head(slot);
  }
}

static int listen_on(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) die("socket", errno);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, (struct sockaddr *)&address, sizeof address) != 0) die("bind", errno);
  if (listen(fd, 1024) != 0) die("listen", errno);
  return fd;
}

static void setup_ring(void) {
  struct io_uring_params params = {.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN |
                                            IORING_SETUP_SUBMIT_ALL | IORING_SETUP_CQSIZE,
                                   .cq_entries = 4 * kRingEntries};
  if (io_uring_queue_init_params(kRingEntries, &ring, &params) < 0) {
    params = (struct io_uring_params){.flags = IORING_SETUP_CQSIZE, .cq_entries = 4 * kRingEntries};
    int error = io_uring_queue_init_params(kRingEntries, &ring, &params);
    if (error < 0) die("io_uring_queue_init_params", -error);
  }
  int error = io_uring_register_files_sparse(&ring, kMaxConnections);
  if (error < 0) die("io_uring_register_files_sparse", -error);
  io_uring_register_ring_fd(&ring);

  buffers = aligned_alloc(4096, kBufferCount * sizeof(struct io_uring_buf));
  buffer_memory = malloc((size_t)kBufferCount * kBufferSize);
  if (buffers == NULL || buffer_memory == NULL) die("malloc", ENOMEM);
  struct io_uring_buf_reg registration = {.ring_addr = (uintptr_t)buffers, .ring_entries = kBufferCount,
                                          .bgid = kBufferGroup};
  error = io_uring_register_buf_ring(&ring, &registration, 0);
  if (error < 0) die("io_uring_register_buf_ring", -error);
  io_uring_buf_ring_init(buffers);
  for (unsigned id = 0; id < kBufferCount; ++id) give_back((unsigned short)id);
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s PORT\n", argv[0]);
    return 2;
  }
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  if (sigprocmask(SIG_BLOCK, &stop_signals, NULL) != 0) die("sigprocmask", errno);
  int signal_fd = signalfd(-1, &stop_signals, SFD_CLOEXEC);
  if (signal_fd < 0) die("signalfd", errno);
  for (unsigned slot = 0; slot < kMaxConnections; ++slot) connections[slot].fd = -1;

  int listen_fd = listen_on(atoi(argv[1]));
  setup_ring();
  struct io_uring_sqe *sqe = next_sqe();
  io_uring_prep_multishot_accept(sqe, listen_fd, NULL, NULL, SOCK_CLOEXEC);
  io_uring_sqe_set_data64(sqe, tag(kAccept, 0));
  sqe = next_sqe();
  io_uring_prep_poll_add(sqe, signal_fd, POLLIN);
  io_uring_sqe_set_data64(sqe, tag(kSignal, 0));

  for (;;) {
    int error = io_uring_submit_and_wait(&ring, 1);
    if (error < 0 && error != -EINTR && error != -EBUSY) die("io_uring_submit_and_wait", -error);
    struct io_uring_cqe *cqe;
    unsigned head, seen = 0;
    io_uring_for_each_cqe(&ring, head, cqe) {
      ++seen;
      unsigned slot = (unsigned)(cqe->user_data >> 3);
      switch ((enum kind)(cqe->user_data & 7)) {
        case kSignal: return 0; /* the kernel closes the sockets */
        case kAccept:
          on_accept(cqe->res);
          if (!(cqe->flags & IORING_CQE_F_MORE)) { /* the kernel ended it: arm another */
            sqe = next_sqe();
            io_uring_prep_multishot_accept(sqe, listen_fd, NULL, NULL, SOCK_CLOEXEC);
            io_uring_sqe_set_data64(sqe, tag(kAccept, 0));
          }
          break;
        case kReceive: on_receive(slot, cqe); break;
        case kSend: on_send(slot, cqe->res); break;
      }
    }
    io_uring_cq_advance(&ring, seen);
  }
}
