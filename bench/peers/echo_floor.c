/* The floor of the echo benchmarks (compare.py echo): a hand-written C echo server on one
 * level-triggered epoll loop with non-blocking sockets, the least an epoll design must do. Each
 * readable connection gets one recv of up to 64 KiB and one send of what came; what the socket
 * does not take waits in that connection's buffer, and the connection is not read again until
 * the buffer is sent. Listens on 127.0.0.1:PORT (backlog 1024); exits with status 0 on SIGINT or
 * SIGTERM. Usage: echo_floor PORT */
#define _GNU_SOURCE /* accept4 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

enum { kReadSize = 65536, kMaxEvents = 256 };

struct connection {
  int fd;
  char *pending; /* bytes received but not yet sent back (kReadSize bytes, made on first use) */
  size_t pending_offset, pending_size;
};

/* Markers for the two fds that are not connections, stored in epoll's data.ptr. */
static char listener_marker, signal_marker;

static void die(const char *what) {
  fprintf(stderr, "echo_floor: %s: %s\n", what, strerror(errno));
  exit(1);
}

static void watch(int epoll_fd, int op, int fd, unsigned events, void *data) {
  struct epoll_event event = {.events = events, .data.ptr = data};
  if (epoll_ctl(epoll_fd, op, fd, &event) != 0) die("epoll_ctl");
}

static void close_connection(struct connection *c) {
  close(c->fd); /* also removes it from the epoll set */
  free(c->pending);
  free(c);
}

static void accept_all(int epoll_fd, int listen_fd) {
  for (;;) {
    int fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      if (errno == EINTR || errno == ECONNABORTED) continue;
      die("accept4");
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct connection *c = calloc(1, sizeof *c);
    if (c == NULL) die("calloc");
    c->fd = fd;
    watch(epoll_fd, EPOLL_CTL_ADD, fd, EPOLLIN, c);
  }
}

/* Sends what is pending; returns 0 when all of it went, 1 when some is left, -1 on error. */
static int send_pending(struct connection *c) {
  while (c->pending_offset < c->pending_size) {
    ssize_t n = send(c->fd, c->pending + c->pending_offset, c->pending_size - c->pending_offset, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno == EAGAIN || errno == EWOULDBLOCK ? 1 : -1;
    }
    c->pending_offset += (size_t)n;
  }
  return 0;
}

/* One recv and its echo; returns -1 when the connection is to be closed. */
static int on_readable(int epoll_fd, struct connection *c, char *buffer) {
  ssize_t received = recv(c->fd, buffer, kReadSize, 0);
  if (received <= 0) return received < 0 && (errno == EAGAIN || errno == EINTR) ? 0 : -1;
  ssize_t sent = send(c->fd, buffer, (size_t)received, MSG_NOSIGNAL);
  if (sent < 0) {
    if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return -1;
    sent = 0;
  }
  if (sent == received) return 0;
  if (c->pending == NULL && (c->pending = malloc(kReadSize)) == NULL) die("malloc");
  c->pending_size = (size_t)(received - sent);
  c->pending_offset = 0;
  memcpy(c->pending, buffer + sent, c->pending_size);
  watch(epoll_fd, EPOLL_CTL_MOD, c->fd, EPOLLOUT, c); /* stop reading until it is sent */
  return 0;
}

static int on_writable(int epoll_fd, struct connection *c) {
  int left = send_pending(c);
  if (left == 0) watch(epoll_fd, EPOLL_CTL_MOD, c->fd, EPOLLIN, c);
  return left < 0 ? -1 : 0;
}

static int listen_on(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) die("socket");
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, (struct sockaddr *)&address, sizeof address) != 0) die("bind");
  if (listen(fd, 1024) != 0) die("listen");
  return fd;
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
  if (sigprocmask(SIG_BLOCK, &stop_signals, NULL) != 0) die("sigprocmask");
  int signal_fd = signalfd(-1, &stop_signals, SFD_NONBLOCK | SFD_CLOEXEC);
  if (signal_fd < 0) die("signalfd");

  int listen_fd = listen_on(atoi(argv[1]));
  int epoll_fd = epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd < 0) die("epoll_create1");
  watch(epoll_fd, EPOLL_CTL_ADD, listen_fd, EPOLLIN, &listener_marker);
  watch(epoll_fd, EPOLL_CTL_ADD, signal_fd, EPOLLIN, &signal_marker);

  static char buffer[kReadSize];
  struct epoll_event events[kMaxEvents];
  for (;;) {
    int ready = epoll_wait(epoll_fd, events, kMaxEvents, -1);
    if (ready < 0) {
      if (errno == EINTR) continue;
      die("epoll_wait");
    }
    for (int i = 0; i < ready; ++i) {
      void *data = events[i].data.ptr;
      if (data == &signal_marker) return 0; /* the kernel closes the sockets */
      if (data == &listener_marker) {
        accept_all(epoll_fd, listen_fd);
        continue;
      }
      struct connection *c = data;
      int sending = c->pending_offset < c->pending_size;
      if ((sending ? on_writable(epoll_fd, c) : on_readable(epoll_fd, c, buffer)) < 0) close_connection(c);
    }
  }
}
