// Generator<T>: laziness, order, reference and move-only values, std::ranges composition, the
// next() step, single iteration, exceptions, destruction on early exit, yield_from delegation,
// and the stack safety of deep recursive delegation.
#include <algorithm>
#include <memory>
#include <numeric>
#include <ranges>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include "support/asyncio_test.hpp"
#include "support/instances.hpp"

using asyncio::Generator;
using asyncio::yield_from;
using asyncio_test::Instances;

namespace {

Generator<int> count_to(int n) {
  for (int i = 0; i < n; ++i) co_yield i;
}

template <class T>
std::vector<std::remove_cvref_t<T>> collect(Generator<T> gen) {
  std::vector<std::remove_cvref_t<T>> out;
  for (auto&& v : gen) out.push_back(v);
  return out;
}

TEST(Generator, CallingRunsNothingUntilIterated) {
  std::vector<std::string> log;
  auto make = [&]() -> Generator<int> {
    log.push_back("started");
    co_yield 1;
  };
  Generator<int> gen = make();
  EXPECT_TRUE(log.empty());
  for (int v : gen) log.push_back("got " + std::to_string(v));
  EXPECT_EQ(log, (std::vector<std::string>{"started", "got 1"}));
}

TEST(Generator, ValuesArriveInOrderEachExactlyOnceAndLazily) {
  std::vector<std::string> log;
  auto make = [&]() -> Generator<int> {
    for (int i = 0; i < 3; ++i) {
      log.push_back("yield " + std::to_string(i));
      co_yield i;
    }
    log.push_back("end");
  };
  for (int v : make()) log.push_back("got " + std::to_string(v));
  EXPECT_EQ(log, (std::vector<std::string>{"yield 0", "got 0", "yield 1", "got 1", "yield 2",
                                           "got 2", "end"}));
}

TEST(Generator, EmptyGenerator) {
  auto make = []() -> Generator<int> { co_return; };
  Generator<int> gen = make();
  EXPECT_TRUE(gen.begin() == gen.end());
}

TEST(Generator, YieldsTuples) {
  auto pairs = [](std::vector<std::string> words) -> Generator<std::tuple<int, std::string>> {
    int i = 0;
    for (auto& w : words) {
      co_yield {i, w};
      ++i;
    }
  };
  std::vector<std::string> seen;
  for (auto [i, w] : pairs({"a", "b"})) seen.push_back(std::to_string(i) + w);
  EXPECT_EQ(seen, (std::vector<std::string>{"0a", "1b"}));
}

TEST(Generator, ComposesWithRangesViews) {
  static_assert(std::ranges::input_range<Generator<int>>);
  auto odd_tens = count_to(100) | std::views::filter([](int x) { return x % 2 == 1; }) |
                  std::views::transform([](int x) { return x * 10; }) | std::views::take(3);
  std::vector<int> out;
  for (int v : odd_tens) out.push_back(v);
  EXPECT_EQ(out, (std::vector<int>{10, 30, 50}));

  Generator<int> named = count_to(10);  // an lvalue composes too (by reference)
  out.clear();
  for (int v : named | std::views::drop(7)) out.push_back(v);
  EXPECT_EQ(out, (std::vector<int>{7, 8, 9}));
}

TEST(Generator, ReferenceYieldingGivesTheObjectsThemselves) {
  std::vector<int> data{1, 2, 3};
  auto refs = [](std::vector<int>& v) -> Generator<int&> {
    for (int& x : v) co_yield x;
  };
  for (int& x : refs(data)) x *= 10;
  EXPECT_EQ(data, (std::vector<int>{10, 20, 30}));

  Instances::reset();
  std::vector<Instances> objects(3);
  auto crefs = [](const std::vector<Instances>& v) -> Generator<const Instances&> {
    for (const Instances& x : v) co_yield x;
  };
  int n = 0;
  for (const Instances& x : crefs(objects)) n += &x == &objects[static_cast<std::size_t>(n)];
  EXPECT_EQ(n, 3);
  EXPECT_EQ(Instances::alive, 3);  // no copies were made
}

TEST(Generator, MoveOnlyValuesAndLvalueYieldsAreCopied) {
  auto boxes = []() -> Generator<std::unique_ptr<int>> {
    for (int i = 0; i < 3; ++i) co_yield std::make_unique<int>(i);
  };
  int sum = 0;
  for (std::unique_ptr<int> p : boxes()) sum += *p;  // moved out of the frame
  EXPECT_EQ(sum, 3);

  auto same = []() -> Generator<std::string> {
    std::string s = "kept";
    co_yield s;  // a copy: the consumer may move from it
    co_yield s;
  };
  std::vector<std::string> out;
  for (std::string v : same()) out.push_back(std::move(v));
  EXPECT_EQ(out, (std::vector<std::string>{"kept", "kept"}));
}

TEST(Generator, NextStepsLikePythonsNext) {
  Generator<int> gen = count_to(2);
  EXPECT_EQ(gen.next(), 0);
  EXPECT_EQ(gen.next(), 1);
  EXPECT_EQ(gen.next(), std::nullopt);
  EXPECT_EQ(gen.next(), std::nullopt);  // still finished
}

TEST(Generator, RangeForAfterNextContinuesWhereItStopped) {
  Generator<int> gen = count_to(4);
  EXPECT_EQ(gen.next(), 0);
  std::vector<int> rest;
  for (int v : gen) rest.push_back(v);
  EXPECT_EQ(rest, (std::vector<int>{1, 2, 3}));
}

// --- Iterated at most once ---------------------------------------------------------------------

TEST(Generator, SecondIterationIsARuntimeError) {
  Generator<int> gen = count_to(3);
  for (int v : gen) {
    if (v == 1) break;
  }
  try {
    (void)gen.begin();
    ADD_FAILURE() << "a second begin() must throw";
  } catch (const asyncio::RuntimeError& e) {
    EXPECT_STREQ(e.what(), "cannot reuse already iterated generator");
  }
}

TEST(Generator, IteratingAFinishedGeneratorIsARuntimeError) {
  Generator<int> gen = count_to(1);
  EXPECT_EQ(gen.next(), 0);
  EXPECT_EQ(gen.next(), std::nullopt);
  EXPECT_THROW((void)gen.begin(), asyncio::RuntimeError);
}

TEST(Generator, IteratingAMovedFromGeneratorIsARuntimeError) {
  Generator<int> a = count_to(3);
  Generator<int> b = std::move(a);
  EXPECT_FALSE(a);  // NOLINT(bugprone-use-after-move): the point of the test
  EXPECT_THROW((void)a.begin(), asyncio::RuntimeError);
  EXPECT_THROW((void)a.next(), asyncio::RuntimeError);
  EXPECT_EQ(collect(std::move(b)), (std::vector<int>{0, 1, 2}));
}

TEST(Generator, DelegatingToAnIteratedGeneratorIsARuntimeErrorInTheDelegator) {
  Generator<int> used = count_to(3);
  (void)used.begin();
  auto delegator = [&]() -> Generator<int> {
    co_yield -1;
    co_yield yield_from(used);
  };
  Generator<int> gen = delegator();
  auto it = gen.begin();
  EXPECT_EQ(*it, -1);
  EXPECT_THROW(++it, asyncio::RuntimeError);
}

// --- Exceptions -------------------------------------------------------------------------------

TEST(Generator, ExceptionSurfacesAtTheConsumersIterationStep) {
  Instances::reset();
  auto failing = []() -> Generator<int> {
    Instances local;
    co_yield 1;
    co_yield 2;
    throw std::out_of_range("third");
  };
  std::vector<int> got;
  try {
    for (int v : failing()) got.push_back(v);
    ADD_FAILURE() << "must throw";
  } catch (const std::out_of_range& e) {
    EXPECT_STREQ(e.what(), "third");
  }
  EXPECT_EQ(got, (std::vector<int>{1, 2}));
  EXPECT_EQ(Instances::alive, 0);
  EXPECT_EQ(Instances::destroyed, 1);
}

TEST(Generator, ExceptionBeforeTheFirstValueSurfacesAtBeginAndAtNext) {
  auto failing = []() -> Generator<int> {
    throw std::logic_error("early");
    co_return;
  };
  Generator<int> a = failing();
  EXPECT_THROW((void)a.begin(), std::logic_error);
  Generator<int> b = failing();
  EXPECT_THROW((void)b.next(), std::logic_error);
  EXPECT_EQ(b.next(), std::nullopt);  // finished
}

Generator<int> throws_after(int n) {
  Instances local(n);
  for (int i = 0; i < n; ++i) co_yield i;
  throw std::runtime_error("inner");
}

TEST(Generator, ExceptionCrossesDelegationToTheConsumer) {
  Instances::reset();
  auto outer = []() -> Generator<int> {
    Instances local;
    co_yield 100;
    co_yield yield_from(throws_after(2));
    co_yield 200;  // not reached
  };
  std::vector<int> got;
  EXPECT_THROW(
      {
        for (int v : outer()) got.push_back(v);
      },
      std::runtime_error);
  EXPECT_EQ(got, (std::vector<int>{100, 0, 1}));
  EXPECT_EQ(Instances::alive, 0);
  EXPECT_EQ(Instances::destroyed, 2);
}

TEST(Generator, DelegatorMayCatchTheNestedGeneratorsException) {
  auto outer = []() -> Generator<int> {
    bool caught = false;
    try {
      co_yield yield_from(throws_after(1));
    } catch (const std::runtime_error&) {
      caught = true;  // no co_yield inside a handler
    }
    if (caught) co_yield -1;
    co_yield 2;
  };
  EXPECT_EQ(collect(outer()), (std::vector<int>{0, -1, 2}));
}

// --- Early exit -------------------------------------------------------------------------------

TEST(Generator, BreakingOutEarlyDestroysTheFrameAndItsLocals) {
  Instances::reset();
  bool finished = false;
  auto make = [&]() -> Generator<int> {
    Instances a(1);
    for (int i = 0;; ++i) {
      Instances b(2);
      co_yield i;
    }
    finished = true;
  };
  for (int v : make()) {
    if (v == 3) break;
  }
  EXPECT_FALSE(finished);
  EXPECT_EQ(Instances::alive, 0);
  EXPECT_EQ(Instances::destroyed, 5);  // a, and one b per value 0..3
}

TEST(Generator, DroppingAnUnstartedGeneratorDestroysItsParameters) {
  Instances::reset();
  auto make = [](Instances owned) -> Generator<int> { co_yield owned.id; };
  {
    Generator<int> gen = make(Instances(7));
    EXPECT_EQ(Instances::alive, 1);  // the copy in the frame
  }
  EXPECT_EQ(Instances::alive, 0);
}

Generator<int> nested_with_locals(int depth) {
  Instances local(depth);
  co_yield depth;
  if (depth > 0) co_yield yield_from(nested_with_locals(depth - 1));
}

TEST(Generator, EarlyExitInsideNestedGeneratorsDestroysEveryLevel) {
  Instances::reset();
  std::vector<int> got;
  for (int v : nested_with_locals(5)) {
    got.push_back(v);
    if (v == 2) break;
  }
  EXPECT_EQ(got, (std::vector<int>{5, 4, 3, 2}));
  EXPECT_EQ(Instances::alive, 0);
  EXPECT_EQ(Instances::destroyed, 4);
}

// --- Delegation -------------------------------------------------------------------------------

TEST(Generator, YieldFromGeneratorsAndRanges) {
  std::vector<int> kept{10, 11};
  auto make = [&]() -> Generator<int> {
    co_yield 1;
    co_yield yield_from(count_to(2));             // a generator
    co_yield yield_from(kept);                    // a range, by reference
    co_yield yield_from(std::vector<int>(2, 7));  // a temporary range
    co_yield yield_from(std::views::iota(20, 22));
    co_yield 2;
  };
  EXPECT_EQ(collect(make()), (std::vector<int>{1, 0, 1, 10, 11, 7, 7, 20, 21, 2}));
}

TEST(Generator, YieldFromAPartlyConsumedGeneratorContinuesIt) {
  Generator<int> inner = nested_with_locals(3);  // delegates in turn
  EXPECT_EQ(inner.next(), 3);
  EXPECT_EQ(inner.next(), 2);  // now inside its own nested generator
  auto outer = [&]() -> Generator<int> {
    co_yield yield_from(inner);
    co_yield -1;
  };
  EXPECT_EQ(collect(outer()), (std::vector<int>{1, 0, -1}));
  EXPECT_FALSE(inner);  // handed over
}

struct Tree {
  int value;
  std::unique_ptr<Tree> left, right;
};

Generator<int> in_order(const Tree* node) {
  if (!node) co_return;
  co_yield yield_from(in_order(node->left.get()));
  co_yield node->value;
  co_yield yield_from(in_order(node->right.get()));
}

std::unique_ptr<Tree> build(int lo, int hi) {  // a balanced search tree of [lo, hi)
  if (lo >= hi) return nullptr;
  int mid = lo + (hi - lo) / 2;
  return std::make_unique<Tree>(Tree{mid, build(lo, mid), build(mid + 1, hi)});
}

TEST(Generator, RecursiveTreeWalk) {
  auto tree = build(0, 1000);
  std::vector<int> expected(1000);
  std::iota(expected.begin(), expected.end(), 0);
  EXPECT_EQ(collect(in_order(tree.get())), expected);
}

// --- Stack safety: must hold in every build, g++ -O0 and ASan included ------------------------

Generator<int> chain(int depth) {
  co_yield depth;
  if (depth > 0) co_yield yield_from(chain(depth - 1));
}

TEST(GeneratorStackSafety, HundredThousandLevelsOfDelegation) {
  long long sum = 0;
  int count = 0;
  for (int v : chain(100'000)) {
    sum += v;
    ++count;
  }
  EXPECT_EQ(count, 100'001);
  EXPECT_EQ(sum, 100'000LL * 100'001 / 2);
}

TEST(GeneratorStackSafety, BreakingOutAtTheBottomOfHundredThousandLevels) {
  Instances::reset();
  for (int v : nested_with_locals(100'000)) {
    if (v == 0) break;
  }
  EXPECT_EQ(Instances::alive, 0);
  EXPECT_EQ(Instances::destroyed, 100'001);
}

TEST(GeneratorStackSafety, ExceptionFromTheBottomOfHundredThousandLevels) {
  Instances::reset();
  auto deep = [](auto& self, int depth) -> Generator<int> {
    Instances local(depth);
    if (depth == 0) throw std::runtime_error("bottom");
    co_yield yield_from(self(self, depth - 1));
  };
  EXPECT_THROW(collect(deep(deep, 100'000)), std::runtime_error);
  EXPECT_EQ(Instances::alive, 0);
  EXPECT_EQ(Instances::destroyed, 100'001);
}

TEST(GeneratorStackSafety, TenMillionValues) {
  long long sum = 0;
  for (int v : count_to(10'000'000)) sum += v & 1;
  EXPECT_EQ(sum, 5'000'000);
}

}  // namespace
