// The main() of every test program: GoogleTest with one more listener, which fails each test
// that ends with a file descriptor open that was not open when it started (or a descriptor
// number that now names something else), listing each one with what it refers to.
//
// No descriptor is exempt: nothing the library or these tests open is meant to stay open for
// the life of the process. Descriptors open before the first test (stdin, stdout, stderr, and
// whatever the test runner passed on) are in every test's "before", so they never count.
#include <dirent.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <map>
#include <sstream>
#include <string>

namespace {

/// Every open descriptor of this process and what it refers to (readlink of /proc/self/fd/N),
/// except the one that reads the directory. A failure of the test when it cannot tell.
std::map<int, std::string> open_descriptors() {
  std::map<int, std::string> open;
  DIR* dir = ::opendir("/proc/self/fd");
  if (dir == nullptr) {
    ADD_FAILURE() << "cannot list /proc/self/fd to check for leaked descriptors: "
                  << std::strerror(errno);
    return open;
  }
  const int listing = ::dirfd(dir);
  while (const dirent* entry = ::readdir(dir)) {
    if (entry->d_name[0] == '.') continue;
    const int fd = std::atoi(entry->d_name);
    if (fd == listing) continue;
    char target[4096];
    const std::string link = std::string("/proc/self/fd/") + entry->d_name;
    const ssize_t n = ::readlink(link.c_str(), target, sizeof target - 1);
    if (n < 0 && errno == ENOENT) continue;  // closed since it was listed: not open any more
    open.emplace(fd, n < 0 ? std::string("?") : std::string(target, static_cast<std::size_t>(n)));
  }
  ::closedir(dir);
  return open;
}

class FdLeakCheck : public testing::EmptyTestEventListener {
  void OnTestStart(const testing::TestInfo&) override { before_ = open_descriptors(); }

  // Listeners hear OnTestEnd in the reverse order of their registration, so this one, added
  // after the result printer, records its failure before the printer reports the test.
  void OnTestEnd(const testing::TestInfo& test) override {
    std::ostringstream leaked;
    for (const auto& [fd, target] : open_descriptors()) {
      // Call graphs name code through libdw, which keeps the program's ELF files open for
      // the life of the process: the test program itself, and its shared libraries.
      if (target == executable_ || target.find(".so") != std::string::npos) continue;
      const auto was = before_.find(fd);
      if (was == before_.end() || was->second != target)
        leaked << "\n  fd " << fd << " -> " << target;
    }
    if (!leaked.str().empty()) {
      ADD_FAILURE_AT(test.file(), test.line())
          << "file descriptors left open by this test:" << leaked.str();
    }
  }

  std::map<int, std::string> before_;
  const std::string executable_ = [] {
    char path[4096];
    const ssize_t n = ::readlink("/proc/self/exe", path, sizeof path - 1);
    return n < 0 ? std::string() : std::string(path, static_cast<std::size_t>(n));
  }();
};

}  // namespace

int main(int argc, char** argv) {
  testing::InitGoogleTest(&argc, argv);
  // After InitGoogleTest, which may replace the result printer (--gtest_brief).
  testing::UnitTest::GetInstance()->listeners().Append(new FdLeakCheck);
  return RUN_ALL_TESTS();
}
