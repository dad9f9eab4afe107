// An asynchronous generator streams a paginated fetch: it awaits one page at a time and yields
// its items, so the consumer starts on the first items before the later pages are fetched.
// Python: `async def items(): ... yield item`, consumed with `async for item in items():`.
#include <asyncio/asyncio.hpp>

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "time_scale.hpp"

using namespace std::chrono_literals;

// async def fetch_page(page): a stand-in for a network request, 3 items a page, 3 pages.
asyncio::Coro<std::vector<std::string>> fetch_page(int page) {
  std::printf("fetching page %d\n", page);
  co_await asyncio::sleep(scaled(200ms));  // await asyncio.sleep(0.2)
  std::vector<std::string> items;
  if (page < 3) {
    for (int i = 0; i < 3; ++i) items.push_back("item-" + std::to_string(page * 3 + i));
  }
  co_return items;
}

// async def items():
asyncio::AsyncGenerator<std::string> items() {
  for (int page = 0;; ++page) {
    std::vector<std::string> batch = co_await fetch_page(page);  // batch = await fetch_page(page)
    if (batch.empty()) co_return;                                // if not batch: return
    for (std::string& item : batch) co_yield std::move(item);    // for item in batch: yield item
  }
}

// async def main():
asyncio::Coro<void> main_coro() {
  asyncio::AsyncGenerator<std::string> all = items();
  while (auto item = co_await all.next()) {  // async for item in items():
    std::printf("got %s\n", item->c_str());
    co_await asyncio::sleep(scaled(20ms));  // process it: await asyncio.sleep(0.02)
  }

  asyncio::AsyncGenerator<std::string> some = items();
  for (int n = 0; n < 4; ++n) {
    auto item = co_await some.next();  // item = await anext(some)
    std::printf("first four: %s\n", item->c_str());
  }
  co_await some.aclose();  // await some.aclose(): page 1 is never finished, page 2 never fetched
  std::printf("closed early\n");
}

int main(int argc, char** argv) {
  parse_fast_flag(argc, argv);
  asyncio::run(main_coro());  // asyncio.run(main())
}
