#include <asyncio/asyncio.hpp>
#include <cstdio>
using namespace std::chrono_literals;
asyncio::Coro<int> fact(int n) { int r = 1; for (int i = 2; i <= n; ++i) { co_await asyncio::sleep(10ms); r *= i; } co_return r; }
asyncio::Coro<int> main_coro() {
  auto [a, b] = co_await asyncio::gather(fact(3), fact(4));
  std::printf("%d %d\n", a, b);
  co_return a + b;
}
int main() { std::printf("total %d\n", asyncio::run(main_coro())); }
