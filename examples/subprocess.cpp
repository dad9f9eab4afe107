// Python's subprocess examples (asyncio docs, "Subprocesses") in C++: run shell commands with
// create_subprocess_shell and collect their output and exit code with communicate(), two at a
// time with gather; feed a program input with create_subprocess_exec and communicate(input);
// read a child's output line by line as it comes; stop a child that takes too long; and what a
// missing program raises.
#include <asyncio/asyncio.hpp>

#include <chrono>
#include <cstdio>
#include <string>
#include <system_error>

#include "repr.hpp"
#include "time_scale.hpp"

using namespace std::chrono_literals;
using asyncio::subprocess::PIPE;

// `sleep N` for the shell, N being one second or its --fast share.
std::string sleep_command(std::chrono::seconds seconds) {
  char text[32];
  std::snprintf(text, sizeof text, "sleep %g", scaled(seconds).count());
  return text;
}

// async def run(cmd):
asyncio::Coro<> run(std::string cmd) {
  // proc = await asyncio.create_subprocess_shell(cmd, stdout=PIPE, stderr=PIPE)
  asyncio::Process proc =
      co_await asyncio::create_subprocess_shell(cmd, {.stdout = PIPE, .stderr = PIPE});
  auto [out, err] = co_await proc.communicate();  // stdout, stderr = await proc.communicate()
  std::printf("[%s exited with %d]\n", repr(cmd).c_str(), *proc.returncode());
  if (!out.empty()) std::printf("[stdout]\n%s", out.c_str());
  if (!err.empty()) std::printf("[stderr]\n%s", err.c_str());
}

// Input in, output out: tr reads its stdin to EOF (communicate closes it) and exits.
asyncio::Coro<> uppercase(std::string text) {
  // proc = await asyncio.create_subprocess_exec('tr', 'a-z', 'A-Z', stdin=PIPE, stdout=PIPE)
  asyncio::Process proc = co_await asyncio::create_subprocess_exec(
      "tr", "a-z", "A-Z", asyncio::SubprocessOptions{.stdin = PIPE, .stdout = PIPE});
  auto [out, err] = co_await proc.communicate(text);  // await proc.communicate(text.encode())
  std::printf("tr got %s, gave %s, exit code %d\n", repr(text).c_str(), repr(out).c_str(),
              *proc.returncode());
}

// Line by line, as the child writes them (proc.stdout is a StreamReader).
asyncio::Coro<> ticks() {
  const std::string script = "for i in 1 2 3; do echo tick $i; " + sleep_command(1s) + "; done";
  asyncio::Process proc = co_await asyncio::create_subprocess_exec(
      "sh", "-c", script, asyncio::SubprocessOptions{.stdout = PIPE});
  // async for line in proc.stdout:
  for (std::string line; !(line = co_await proc.stdout->readline()).empty();) {
    std::printf("read %s", line.c_str());
  }
  std::printf("sh exited with %d\n", co_await proc.wait());  // await proc.wait()
}

// A child that takes too long: wait_for gives up on the wait (the child goes on), terminate()
// sends SIGTERM, and the return code is minus the signal.
asyncio::Coro<> too_slow() {
  asyncio::Process proc = co_await asyncio::create_subprocess_exec("sleep", "30");
  try {
    co_await asyncio::wait_for(proc.wait(), scaled(1s));  // await asyncio.wait_for(proc.wait(), 1)
  } catch (const asyncio::TimeoutError&) {
    std::printf("sleep 30 is still running at the deadline: terminate()\n");
    proc.terminate();  // proc.terminate()
  }
  std::printf("sleep 30 ended with returncode %d\n", co_await proc.wait());
}

// async def main():
asyncio::Coro<> main_coro() {
  // A pipeline is one shell command.
  co_await run("echo cherry apple banana | xargs -n 1 | sort | head -n 2");
  // Two at once: ls fails at once, the other one ends a second later.
  co_await asyncio::gather(run("ls /zzz"), run(sleep_command(1s) + "; echo \"hello\""));
  co_await uppercase("hello from asyncio\n");
  co_await ticks();
  co_await too_slow();
  try {  // Python raises FileNotFoundError
    co_await asyncio::create_subprocess_exec("no-such-program", "--help");
  } catch (const std::system_error& e) {
    std::printf("no-such-program: std::system_error, errno %d: %s\n", e.code().value(),
                e.code().message().c_str());
  }
}

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // each line out at once, in order with the children
  parse_fast_flag(argc, argv);
  asyncio::run(main_coro());  // asyncio.run(main())
}
