// Names for code addresses: which function a coroutine frame belongs to, and where it is in the
// source. Used by the call graphs (call_graph.hpp) and by the debug-mode reports.
//
// Implementation notes. A coroutine frame begins, in both g++'s and clang's layout, with the
// address of its resume function (null once it reached its final suspend point), so the frame
// itself says which coroutine it is: no annotation in user code, nothing stored per
// suspension. The address is named from the program's own symbol tables and DWARF through
// elfutils' libdw, loaded with dlopen when first needed (so neither the library nor a program
// linking it needs libdw to build or to run: without it, names come from dladdr, which sees
// only exported symbols, and there are no file names). Answers are cached per address.
#pragma once

#include <coroutine>
#include <string>

namespace asyncio::detail {

/// Where a piece of code is: its function (demangled, compiler suffixes removed), and its
/// source file and line when debug information says (empty and 0 otherwise).
struct CodeLocation {
  std::string function;
  std::string file;
  unsigned line = 0;
};

/// The function containing `address`; thread-safe.
CodeLocation locate_code(const void* address);
/// The coroutine a suspended frame belongs to (its resume function); "<finished coroutine>"
/// for a frame at its final suspend point.
CodeLocation locate_frame(std::coroutine_handle<> frame);

/// The function name a compiler gave a coroutine's resume function, as its user wrote it:
/// "f(int) [clone .resume]" (clang) and "f(f(int)::_Z1fi.Frame*) [clone .actor]" (g++) are
/// both "f(int)".
std::string coroutine_name(std::string demangled);

}  // namespace asyncio::detail
