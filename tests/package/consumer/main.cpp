// A program outside the project that uses the library as a user would.
#include <asyncio/asyncio.hpp>

#include <cstdio>

asyncio::Coro<int> twice(int n) {
  co_await asyncio::sleep(std::chrono::milliseconds(1));
  co_return 2 * n;
}

asyncio::Coro<int> main_coro() {
  auto [a, b] = co_await asyncio::gather(twice(1), twice(2));
  co_return a + b;
}

int main() {
  int total = asyncio::run(main_coro());
  std::printf("consumer ok: %d\n", total);
  return total == 6 ? 0 : 1;
}
