// Python's generators in C++: a generator yielding tuples (`yield i, word`), stepped with next()
// and iterated with a for loop, and a recursive tree walk that delegates with `yield from`.
#include <asyncio/asyncio.hpp>

#include <cstdio>
#include <memory>
#include <ranges>
#include <string>
#include <tuple>
#include <vector>

using asyncio::Generator;

// def numbered(words):
Generator<std::tuple<int, std::string>> numbered(std::vector<std::string> words) {
  int i = 0;
  for (const std::string& word : words) {  // for i, word in enumerate(words):
    co_yield {i, word};                    //     yield i, word
    ++i;
  }
}

struct Node {  // a binary tree: class Node: value, left, right
  int value;
  std::unique_ptr<Node> left, right;
};

// def walk(node):
Generator<int> walk(const Node* node) {
  if (!node) co_return;                                   // if node is None: return
  co_yield asyncio::yield_from(walk(node->left.get()));   // yield from walk(node.left)
  co_yield node->value;                                   // yield node.value
  co_yield asyncio::yield_from(walk(node->right.get()));  // yield from walk(node.right)
}

std::unique_ptr<Node> tree(int lo, int hi) {  // a balanced tree holding lo..hi-1
  if (lo >= hi) return nullptr;
  int mid = lo + (hi - lo) / 2;
  return std::make_unique<Node>(Node{mid, tree(lo, mid), tree(mid + 1, hi)});
}

// A tree that is one long branch, 100,000 levels deep: `yield from` at every level.
std::unique_ptr<Node> branch(int depth) {
  std::unique_ptr<Node> root;
  for (int v = depth - 1; v >= 0; --v)
    root = std::make_unique<Node>(Node{v, nullptr, std::move(root)});
  return root;
}

void release(std::unique_ptr<Node> root) {  // without recursing 100,000 levels deep
  while (root) root = std::move(root->right);
}

int main() {
  Generator<std::tuple<int, std::string>> gen = numbered({"spam", "eggs", "ham"});
  auto first = gen.next();  // first = next(gen)
  std::printf("next: (%d, %s)\n", std::get<0>(*first), std::get<1>(*first).c_str());
  for (auto [i, word] : gen)
    std::printf("for: (%d, %s)\n", i, word.c_str());  // for i, word in gen:

  auto small = tree(1, 8);
  std::printf("walk:");
  for (int v : walk(small.get())) std::printf(" %d", v);
  std::printf("\n");

  // [v * v for v in walk(t) if v % 2]: views compose with a generator.
  std::printf("odd squares:");
  for (int v : walk(small.get()) | std::views::filter([](int v) { return v % 2 == 1; }) |
                   std::views::transform([](int v) { return v * v; })) {
    std::printf(" %d", v);
  }
  std::printf("\n");

  auto deep = branch(100'000);
  long long sum = 0;
  for (int v : walk(deep.get())) sum += v;
  std::printf("deep walk: 100000 levels, sum %lld\n", sum);
  release(std::move(deep));
}
