// ThreadSanitizer suppressions, built into every test program (unused without TSan).
//
// libstdc++ itself is not instrumented: the reference counts of a std::exception_ptr and of a
// std::runtime_error's message are atomic inside it, where TSan cannot see them. When an
// exception made on one thread is last released on another (a call that failed on an
// executor's thread, rethrown on the loop's), TSan reports that release as a race with the
// earlier reads of the exception. These entries suppress exactly those reports.
extern "C" const char* __tsan_default_suppressions() {
  return "race:std::__exception_ptr::exception_ptr::_M_release\n"
         "race:std::runtime_error::~runtime_error\n";
}
