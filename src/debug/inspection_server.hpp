// The loop's inspection socket (EventLoop::enable_inspection): a Unix stream socket that only
// the process's own user can reach, answering one command per connection ("ps", "pstree",
// "tasks", "stats") with text, which the asyncio-ps and asyncio-pstree tools print.
//
// Implementation notes. It runs on plain fd callbacks, not tasks, so inspecting a program adds
// nothing to the tasks it shows. A dump is written a slice of tasks at a time, one slice per
// writable callback, so a dump of many tasks never holds the loop for long; a client that
// sends nothing, or stops reading, is dropped after a while.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "asyncio/detail/owned_fd.hpp"
#include "asyncio/handle.hpp"
#include "asyncio/inspection.hpp"

namespace asyncio::detail {

class TaskDump;

class InspectionServer {
 public:
  /// Listens at options.path (or the default path); std::system_error when it cannot,
  /// RuntimeError when the dump signal is taken.
  InspectionServer(EventLoop& loop, const InspectionOptions& options);
  ~InspectionServer();
  InspectionServer(const InspectionServer&) = delete;
  InspectionServer& operator=(const InspectionServer&) = delete;

  const std::string& path() const noexcept { return path_; }

  /// Tasks per slice of a dump.
  static constexpr std::size_t slice_tasks = 256;

 private:
  struct Client;
  void accept_clients();
  void on_readable(Client* client);
  void on_writable(Client* client);
  void start_reply(Client* client, const std::string& command);
  void close_client(Client* client);
  void arm_deadline(Client* client);

  EventLoop& loop_;
  std::string path_;
  OwnedFd listener_;
  int dump_signal_ = 0;  // installed, 0: none
  std::vector<std::unique_ptr<Client>> clients_;
};

/// The default socket path for the n-th inspected loop of the process (making the private
/// directory if needed).
std::string default_inspection_path(unsigned n);
/// The directory the default paths are in.
std::string inspection_directory();

}  // namespace asyncio::detail
