// Naming code addresses: libdw (loaded at run time) when it is there, dladdr otherwise.
#include "debug/symbolizer.hpp"

#include <cxxabi.h>
#include <dlfcn.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string_view>
#include <unordered_map>

#if __has_include(<elfutils/libdwfl.h>)
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#define ASYNCIO_HAVE_LIBDW_HEADERS 1
#else
#define ASYNCIO_HAVE_LIBDW_HEADERS 0
#endif

namespace asyncio::detail {

namespace {

std::string demangle(const char* name) {
  int status = 0;
  std::unique_ptr<char, decltype(&std::free)> out(
      abi::__cxa_demangle(name, nullptr, nullptr, &status), &std::free);
  return status == 0 && out ? std::string(out.get()) : std::string(name);
}

#if ASYNCIO_HAVE_LIBDW_HEADERS

/// The few libdw functions used, resolved from libdw.so.1 with dlsym.
struct Libdw {
  decltype(&dwfl_begin) begin;
  decltype(&dwfl_end) end;
  decltype(&dwfl_report_begin) report_begin;
  decltype(&dwfl_linux_proc_report) proc_report;
  decltype(&dwfl_report_end) report_end;
  decltype(&dwfl_linux_proc_find_elf) find_elf;
  decltype(&dwfl_addrmodule) addrmodule;
  decltype(&dwfl_module_addrinfo) addrinfo;
  decltype(&dwfl_module_getsrc) getsrc;
  decltype(&dwfl_module_nextcu) nextcu;
  decltype(&dwarf_haspc) haspc;
  decltype(&dwarf_getsrc_die) getsrc_die;
  decltype(&dwfl_lineinfo) lineinfo;
  decltype(&dwarf_linesrc) linesrc;
  decltype(&dwarf_lineno) lineno;

  static const Libdw* load() {
    void* lib = dlopen("libdw.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!lib) return nullptr;
    auto* dw = new Libdw;  // kept for the life of the process, as the library is
    bool ok = true;
    auto get = [&](auto& fn, const char* name) {
      fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(dlsym(lib, name));
      ok = ok && fn != nullptr;
    };
    get(dw->begin, "dwfl_begin");
    get(dw->end, "dwfl_end");
    get(dw->report_begin, "dwfl_report_begin");
    get(dw->proc_report, "dwfl_linux_proc_report");
    get(dw->report_end, "dwfl_report_end");
    get(dw->find_elf, "dwfl_linux_proc_find_elf");
    get(dw->addrmodule, "dwfl_addrmodule");
    get(dw->addrinfo, "dwfl_module_addrinfo");
    get(dw->getsrc, "dwfl_module_getsrc");
    get(dw->nextcu, "dwfl_module_nextcu");
    get(dw->haspc, "dwarf_haspc");
    get(dw->getsrc_die, "dwarf_getsrc_die");
    get(dw->lineinfo, "dwfl_lineinfo");
    get(dw->linesrc, "dwarf_linesrc");
    get(dw->lineno, "dwarf_lineno");
    if (ok) return dw;
    delete dw;
    return nullptr;
  }
};

/// libdw's find_debuginfo callback: the files' own DWARF only. (The standard one would also
/// look for separate debug files and ask debuginfod servers: network access, and a libcurl
/// socket pair left open in the program.)
int own_debuginfo_only(Dwfl_Module*, void**, const char*, Dwarf_Addr, const char*, const char*,
                       GElf_Word, char**) {
  return -1;
}

#endif

/// The process's symbolizer: one, behind a mutex (loops on several threads may ask).
class Symbolizer {
 public:
  CodeLocation locate(const void* address) {
    const std::lock_guard lock(mutex_);
    auto found = cache_.find(address);
    if (found != cache_.end()) return found->second;
    CodeLocation location = look_up(address);
    cache_.emplace(address, location);
    return location;
  }

 private:
  CodeLocation look_up(const void* address) {
#if ASYNCIO_HAVE_LIBDW_HEADERS
    if (CodeLocation location; look_up_dwarf(address, location)) return location;
#endif
    CodeLocation location;
    Dl_info info{};
    if (dladdr(address, &info) && info.dli_sname) {
      location.function = demangle(info.dli_sname);
    } else {
      char text[32];
      std::snprintf(text, sizeof text, "%p", address);
      location.function = text;
    }
    return location;
  }

#if ASYNCIO_HAVE_LIBDW_HEADERS
  bool look_up_dwarf(const void* address, CodeLocation& location) {
    if (!open_dwfl()) return false;
    const auto pc = reinterpret_cast<Dwarf_Addr>(address);
    Dwfl_Module* module = dw_->addrmodule(dwfl_, pc);
    if (!module && report_modules()) module = dw_->addrmodule(dwfl_, pc);  // loaded since
    if (!module) return false;
    GElf_Off offset = 0;
    GElf_Sym symbol{};
    const char* name = dw_->addrinfo(module, pc, &offset, &symbol, nullptr, nullptr, nullptr);
    if (!name) return false;
    location.function = demangle(name);
    if (Dwfl_Line* line = dw_->getsrc(module, pc)) {  // through .debug_aranges
      int number = 0;
      const char* file = dw_->lineinfo(line, nullptr, &number, nullptr, nullptr, nullptr);
      if (file) location.file = file;
      location.line = static_cast<unsigned>(number);
      return true;
    }
    // clang writes no .debug_aranges by default: look for the compilation unit itself.
    Dwarf_Die* unit = nullptr;
    Dwarf_Addr bias = 0;
    while ((unit = dw_->nextcu(module, unit, &bias)) != nullptr) {
      if (dw_->haspc(unit, pc - bias) <= 0) continue;
      if (Dwarf_Line* line = dw_->getsrc_die(unit, pc - bias)) {
        int number = 0;
        if (const char* file = dw_->linesrc(line, nullptr, nullptr)) location.file = file;
        if (dw_->lineno(line, &number) == 0) location.line = static_cast<unsigned>(number);
      }
      break;
    }
    return true;
  }

  bool open_dwfl() {
    if (dwfl_) return true;
    if (tried_) return false;
    tried_ = true;
    dw_ = Libdw::load();
    if (!dw_) return false;
    callbacks_.find_elf = dw_->find_elf;
    callbacks_.find_debuginfo = &own_debuginfo_only;
    dwfl_ = dw_->begin(&callbacks_);
    if (dwfl_ && !report_modules()) {
      dw_->end(dwfl_);
      dwfl_ = nullptr;
    }
    return dwfl_ != nullptr;
  }

  /// (Re)reads the process's modules from /proc/self/maps.
  bool report_modules() {
    dw_->report_begin(dwfl_);
    const int failed = dw_->proc_report(dwfl_, getpid());
    return dw_->report_end(dwfl_, nullptr, nullptr) == 0 && failed == 0;
  }

  const Libdw* dw_ = nullptr;
  Dwfl_Callbacks callbacks_{};
  Dwfl* dwfl_ = nullptr;
  bool tried_ = false;
#endif

  std::mutex mutex_;
  std::unordered_map<const void*, CodeLocation> cache_;  // guarded by mutex_
};

Symbolizer& symbolizer() {
  static Symbolizer* const instance = new Symbolizer;  // never destroyed: reports run late
  return *instance;
}

void remove_suffix(std::string& name, std::string_view suffix) {
  if (name.size() >= suffix.size() &&
      name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0)
    name.erase(name.size() - suffix.size());
}

}  // namespace

std::string coroutine_name(std::string name) {
  for (std::string_view suffix : {" [clone .resume]", " [clone .actor]", " [clone .destroy]"})
    remove_suffix(name, suffix);
  // g++'s actor takes the frame: "F(F(args)::<mangled>.Frame*)"; keep "F(args)".
  if (name.size() > 8 && name.compare(name.size() - 8, 8, ".Frame*)") == 0) {
    const std::size_t cut = name.rfind("::_Z");
    if (cut != std::string::npos) {
      const std::string_view inner(name.data(), cut);
      for (std::size_t open = inner.find('(', 1); open != std::string_view::npos;
           open = inner.find('(', open + 1)) {
        const std::string_view prefix = inner.substr(0, open);
        if (inner.substr(open + 1).starts_with(prefix)) {
          name = std::string(prefix) + std::string(inner.substr(open + 1 + prefix.size()));
          break;
        }
      }
    }
  }
  // clang names a function template with its return type first: "R ns::f<T>(args)"; the
  // last space outside brackets before the parameters ends it.
  std::size_t cut = 0;
  int depth = 0;
  for (std::size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    if (c == '(' && depth == 0 && name.compare(i, 21, "(anonymous namespace)") != 0) break;
    if (c == '<' || c == '(' || c == '{') ++depth;
    if ((c == '>' || c == ')' || c == '}') && depth > 0) --depth;
    if (c == ' ' && depth == 0) cut = i + 1;
  }
  return name.substr(cut);
}

CodeLocation locate_code(const void* address) { return symbolizer().locate(address); }

CodeLocation locate_frame(std::coroutine_handle<> frame) {
  // Both compilers' frames start with the resume function's address; null once finished.
  const void* resume = *static_cast<void* const*>(frame.address());
  if (!resume) return {"<finished coroutine>", {}, 0};
  CodeLocation location = locate_code(resume);
  location.function = coroutine_name(std::move(location.function));
  return location;
}

}  // namespace asyncio::detail
