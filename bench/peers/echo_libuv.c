/* libuv peer of the echo benchmarks (compare.py echo): an echo server on the default uv loop.
 * Each read lands in one shared 64 KiB buffer (libuv calls the read callback right after filling
 * it) and is written back at once with uv_try_write; what the socket does not take is copied and
 * queued with uv_write, and the connection is not read again until that write completes.
 * Listens on 127.0.0.1:PORT (backlog 1024); exits with status 0 on SIGINT or SIGTERM.
 * Usage: bench_echo_libuv PORT */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

enum { kReadSize = 65536 };

/* The rest of a read that uv_try_write could not send, with its write request. */
struct pending_write {
  uv_write_t request; /* first, so that the request's address is the struct's */
  char data[];
};

static char read_buffer[kReadSize];

static void check(int status, const char *what) {
  if (status < 0) {
    fprintf(stderr, "bench_echo_libuv: %s: %s\n", what, uv_strerror(status));
    exit(1);
  }
}

static void give_read_buffer(uv_handle_t *handle, size_t suggested_size, uv_buf_t *buffer) {
  (void)handle;
  (void)suggested_size;
  *buffer = uv_buf_init(read_buffer, sizeof read_buffer);
}

static void free_handle(uv_handle_t *handle) { free(handle); }

static void close_stream(uv_stream_t *stream) {
  if (!uv_is_closing((uv_handle_t *)stream)) uv_close((uv_handle_t *)stream, free_handle);
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buffer);

static void on_written(uv_write_t *request, int status) {
  uv_stream_t *stream = request->handle;
  free(request);
  if (status < 0) {
    close_stream(stream);
    return;
  }
  check(uv_read_start(stream, give_read_buffer, on_read), "uv_read_start");
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buffer) {
  if (nread < 0) { /* UV_EOF, or an error */
    close_stream(stream);
    return;
  }
  uv_buf_t received = uv_buf_init(buffer->base, (unsigned)nread);
  int written = nread == 0 ? 0 : uv_try_write(stream, &received, 1);
  if (written == nread) return;
  if (written < 0) {
    if (written != UV_EAGAIN) {
      close_stream(stream);
      return;
    }
    written = 0;
  }
  size_t left = (size_t)nread - (size_t)written;
  struct pending_write *pending = malloc(sizeof *pending + left);
  if (pending == NULL) check(UV_ENOMEM, "malloc");
  memcpy(pending->data, buffer->base + written, left);
  uv_buf_t rest = uv_buf_init(pending->data, (unsigned)left);
  uv_read_stop(stream);
  check(uv_write(&pending->request, stream, &rest, 1, on_written), "uv_write");
}

static void on_connection(uv_stream_t *server, int status) {
  if (status < 0) return;
  uv_tcp_t *client = malloc(sizeof *client);
  if (client == NULL) check(UV_ENOMEM, "malloc");
  check(uv_tcp_init(server->loop, client), "uv_tcp_init");
  if (uv_accept(server, (uv_stream_t *)client) != 0) {
    uv_close((uv_handle_t *)client, free_handle);
    return;
  }
  uv_tcp_nodelay(client, 1);
  check(uv_read_start((uv_stream_t *)client, give_read_buffer, on_read), "uv_read_start");
}

static void on_stop_signal(uv_signal_t *handle, int signum) {
  (void)signum;
  uv_stop(handle->loop);
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s PORT\n", argv[0]);
    return 2;
  }
  uv_loop_t *loop = uv_default_loop();
  uv_tcp_t server;
  struct sockaddr_in address;
  check(uv_ip4_addr("127.0.0.1", atoi(argv[1]), &address), "uv_ip4_addr");
  check(uv_tcp_init(loop, &server), "uv_tcp_init");
  check(uv_tcp_bind(&server, (const struct sockaddr *)&address, 0), "uv_tcp_bind");
  check(uv_listen((uv_stream_t *)&server, 1024, on_connection), "uv_listen");

  uv_signal_t stop_signals[2];
  const int signums[2] = {SIGINT, SIGTERM};
  for (int i = 0; i < 2; ++i) {
    check(uv_signal_init(loop, &stop_signals[i]), "uv_signal_init");
    check(uv_signal_start(&stop_signals[i], on_stop_signal, signums[i]), "uv_signal_start");
  }
  uv_run(loop, UV_RUN_DEFAULT);
  return 0; /* stopped by a signal; the kernel closes the sockets */
}
