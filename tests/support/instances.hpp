// Instances: a value type that counts how many of it are alive, so that tests can check that
// every object a coroutine frame created was destroyed.
#pragma once

namespace asyncio_test {

/// Counts live objects. Reset `alive` and `destroyed` at the start of a test.
struct Instances {
  static inline int alive = 0;
  static inline int destroyed = 0;
  static void reset() { alive = destroyed = 0; }

  int id = 0;
  explicit Instances(int i = 0) noexcept : id(i) { ++alive; }
  Instances(const Instances& other) noexcept : id(other.id) { ++alive; }
  Instances& operator=(const Instances&) = default;
  ~Instances() {
    --alive;
    ++destroyed;
  }
};

}  // namespace asyncio_test
