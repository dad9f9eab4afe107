// detail::TimerQueue against a reference ordering: earliest deadline first, equal deadlines in
// the order they were pushed, pushes interleaved with pops, removal of entries.
#include <algorithm>
#include <map>
#include <random>

#include "support/asyncio_test.hpp"

namespace {

using asyncio::detail::HandleNode;
using Node = asyncio::detail::WakeNode;  // any kind of node: the queue reads when_ only
using asyncio::detail::TimerQueue;

TEST(TimerQueue, MatchesAReferenceOrderUnderRandomPushesAndPops) {
  std::mt19937_64 rng(7);
  std::vector<Node> nodes(20'000);
  TimerQueue queue;
  std::multimap<std::uint64_t, HandleNode*> reference;  // equal keys keep insertion order
  std::uint64_t now = 1'000'000'000;
  std::size_t next = 0;
  for (int round = 0; round < 2000; ++round) {
    int pushes = static_cast<int>(rng() % 12);
    for (int i = 0; i < pushes && next < nodes.size(); ++i) {
      HandleNode* node = &nodes[next++];
      // Deadlines from the past (overdue) to far ahead, with many exact ties.
      std::uint64_t when = now - 1000 + (rng() % 4 == 0 ? rng() % 8 * 1000 : rng() % 100'000'000);
      node->when_ = when;
      queue.push(node);
      reference.emplace(std::max(when, now - 1000), node);
    }
    int pops = static_cast<int>(rng() % 10);
    for (int i = 0; i < pops && !reference.empty(); ++i) {
      auto expected = reference.begin();
      ASSERT_FALSE(queue.empty());
      ASSERT_EQ(queue.top_when(), expected->first) << "round " << round;
      ASSERT_EQ(queue.pop(), expected->second) << "round " << round;
      now = std::max(now, expected->first + 1000);
      reference.erase(expected);
    }
    ASSERT_EQ(queue.size(), reference.size());
  }
}

TEST(TimerQueue, PeekingAFarDeadlineDoesNotDelayAnEarlierOnePushedLater) {
  Node far, near;
  TimerQueue queue;
  far.when_ = 1'000'000;
  queue.push(&far);
  EXPECT_EQ(queue.top_when(), 1'000'000u);
  near.when_ = 10;
  queue.push(&near);
  EXPECT_EQ(queue.top_when(), 10u);
  EXPECT_EQ(queue.pop(), &near);
  EXPECT_EQ(queue.pop(), &far);
}

TEST(TimerQueue, RemoveIfKeepsTheOrderOfTheRest) {
  std::vector<Node> nodes(100);
  TimerQueue queue;
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    nodes[i].when_ = 1000 + (i * 37) % 50;
    queue.push(&nodes[i]);
  }
  queue.pop();
  queue.remove_if([&](HandleNode* n) { return (static_cast<Node*>(n) - nodes.data()) % 3 == 0; });
  std::uint64_t last = 0;
  std::size_t count = 0;
  while (!queue.empty()) {
    HandleNode* n = queue.pop();
    EXPECT_NE((static_cast<Node*>(n) - nodes.data()) % 3, 0);
    EXPECT_GE(n->when_, last);
    last = n->when_;
    ++count;
  }
  EXPECT_EQ(count, 66u);
}

}  // namespace
