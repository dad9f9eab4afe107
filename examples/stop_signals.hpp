// Shared by the server examples (and bench/echo_server.cpp): close_on_stop_signal(server), a
// coroutine that closes the server, so that its serve_forever() returns, when SIGINT (Ctrl-C) or
// SIGTERM arrives. Python would call loop.add_signal_handler(signal.SIGTERM, server.close); here
// the two signals are blocked and read from a signalfd that the loop watches.
#pragma once

#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <asyncio/asyncio.hpp>

#include <cerrno>
#include <system_error>

inline asyncio::Coro<> close_on_stop_signal(asyncio::Server& server) {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  if (sigprocmask(SIG_BLOCK, &signals, nullptr) != 0) {
    throw std::system_error(errno, std::generic_category(), "sigprocmask");
  }
  struct SignalFd {  // closed however the wait ends (asyncio::run cancels it at exit)
    int fd;
    ~SignalFd() { ::close(fd); }
  } signal_fd{signalfd(-1, &signals, SFD_NONBLOCK | SFD_CLOEXEC)};
  if (signal_fd.fd < 0) throw std::system_error(errno, std::generic_category(), "signalfd");
  co_await asyncio::get_running_loop().wait_readable(signal_fd.fd);
  server.close();
}
