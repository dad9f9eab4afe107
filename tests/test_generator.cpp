// Generator<T, R, S>: laziness, order, reference and move-only values, std::ranges composition,
// the next() step, single iteration, exceptions, destruction on early exit, yield_from
// delegation, Python's send(), throw() and close() and return values (ported from CPython's
// Lib/test/test_generators.py and the synchronous halves of Lib/test/test_asyncgen.py), and the
// stack safety of deep recursive delegation.
#include <algorithm>
#include <memory>
#include <numeric>
#include <optional>
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

// Resumes its own Generator from inside its body: Python's "generator already executing".
Generator<int> reenters(Generator<int>* const* self, std::string* seen) {
  co_yield 1;
  try {
    (*self)->next();
  } catch (const std::invalid_argument& e) {
    *seen += std::string(e.what()) + ";";
  }
  try {
    (*self)->close();
  } catch (const std::invalid_argument& e) {
    *seen += std::string(e.what()) + ";";
  }
  co_yield 2;
}

TEST(Generator, ResumingAGeneratorFromItsOwnBodyIsAnError) {
  Generator<int>* self = nullptr;
  std::string seen;
  Generator<int> gen = reenters(&self, &seen);
  self = &gen;
  EXPECT_EQ(gen.next(), 1);
  EXPECT_EQ(gen.next(), 2);  // it went on after both refusals
  EXPECT_EQ(seen, "generator already executing;generator already executing;");
  EXPECT_EQ(gen.next(), std::nullopt);
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

// The loop's body may finish the generator it iterates (Python: `for v in g: g.close()` or a
// next(g) that reaches the end): the loop ends.
TEST(Generator, ARangeForWhoseBodyFinishesTheGeneratorEnds) {
  Generator<int> exhausted = count_to(3);
  std::vector<int> seen;
  for (int v : exhausted) {
    seen.push_back(v);
    while (exhausted.next()) {
    }
  }
  EXPECT_EQ(seen, (std::vector<int>{0}));
  Generator<int> closed = count_to(3);
  seen.clear();
  for (int v : closed) {
    seen.push_back(v);
    closed.close();
  }
  EXPECT_EQ(seen, (std::vector<int>{0}));
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

// --- send() ------------------------------------------------------------------------------------

using asyncio::GeneratorExit;
using asyncio::RuntimeError;

// test_generators.py, coroutine_tests: "Sending a value into a started generator".
TEST(GeneratorSend, SendGivesTheValueToTheCoYieldAndReturnsTheNextValue) {
  std::vector<int> printed;
  auto f = [&]() -> Generator<int, void, int> {
    std::optional<int> got = co_yield 1;
    printed.push_back(got.value_or(-1));
    co_yield 2;
  };
  Generator<int, void, int> g = f();
  EXPECT_EQ(g.next(), 1);
  EXPECT_EQ(g.send(42), 2);
  EXPECT_EQ(printed, (std::vector<int>{42}));
}

// test_generators.py, coroutine_tests: "Sending a value into a new generator produces a
// TypeError" (a RuntimeError here); the generator is left as it was.
TEST(GeneratorSend, SendToAJustStartedGeneratorIsRefusedAndRunsNothing) {
  bool ran = false;
  auto f = [&]() -> Generator<int, void, std::string> {
    ran = true;
    co_yield 1;
  };
  Generator<int, void, std::string> g = f();
  try {
    (void)g.send("foo");
    ADD_FAILURE() << "send() to a just-started generator must throw";
  } catch (const RuntimeError& e) {
    EXPECT_STREQ(e.what(), "can't send non-None value to a just-started generator");
  }
  EXPECT_FALSE(ran);
  EXPECT_EQ(g.next(), 1);  // still usable: next() starts it
}

// test_asyncgen.py, test_async_gen_iteration_01 (`a = yield 123; assertIs(a, None)`): a
// co_yield resumed by next() or by the iteration gives nullopt.
TEST(GeneratorSend, CoYieldResumedByNextOrIterationGivesNullopt) {
  std::vector<bool> had_value;
  auto f = [&]() -> Generator<int, void, int> {
    for (int i = 0; i < 3; ++i) {
      std::optional<int> got = co_yield i;
      had_value.push_back(got.has_value());
    }
  };
  Generator<int, void, int> g = f();
  EXPECT_EQ(g.next(), 0);
  EXPECT_EQ(g.next(), 1);
  for (int v : g) EXPECT_EQ(v, 2);
  EXPECT_EQ(had_value, (std::vector<bool>{false, false, false}));
}

// test_generators.py, coroutine_tests: "A yield expression with augmented assignment".
TEST(GeneratorSend, RunningTotalFedBySend) {
  std::vector<int> seq;
  auto coroutine = [&seq]() -> Generator<int, void, int> {
    int count = 0;
    while (count < 200) {
      count += (co_yield count).value_or(0);
      seq.push_back(count);
    }
  };
  Generator<int, void, int> c = coroutine();
  EXPECT_EQ(c.next(), 0);
  EXPECT_TRUE(seq.empty());
  EXPECT_EQ(c.send(10), 10);
  EXPECT_EQ(seq, (std::vector<int>{10}));
  EXPECT_EQ(c.send(10), 20);
  EXPECT_EQ(c.send(10), 30);
  EXPECT_EQ(seq, (std::vector<int>{10, 20, 30}));
}

// test_generators.py, coroutine_tests (`g.send(2)` on a terminated generator raises
// StopIteration) and test_asyncgen.py, test_async_gen_asyncio_asend_01's sanity check: send()
// gives nullopt once the generator has finished, and the value it sent is not used.
TEST(GeneratorSend, SendToAFinishedGeneratorGivesNullopt) {
  auto sgen = []() -> Generator<int, void, int> {
    std::optional<int> v = co_yield 1;
    co_yield *v * 2;
  };
  Generator<int, void, int> sg = sgen();
  EXPECT_EQ(sg.next(), 1);
  EXPECT_EQ(sg.send(100), 200);
  EXPECT_EQ(sg.send(1), std::nullopt);
  EXPECT_EQ(sg.send(1), std::nullopt);
}

TEST(GeneratorSend, MoveOnlySentValuesAreMovedIn) {
  auto f = []() -> Generator<int, void, std::unique_ptr<int>> {
    std::optional<std::unique_ptr<int>> box = co_yield 0;
    co_yield **box;
  };
  Generator<int, void, std::unique_ptr<int>> g = f();
  EXPECT_EQ(g.next(), 0);
  EXPECT_EQ(g.send(std::make_unique<int>(7)), 7);
}

// test_generators.py, FinalizationTest.test_lambda_generator and test_return_tuple: `return
// (yield 1)` and `return (yield from g())`: send() reaches the innermost generator, what it
// returns is the value of the yield_from, and the outer generator's return value.
Generator<int, int, int> returns_what_it_is_sent() { co_return (co_yield 1).value_or(-1); }

TEST(GeneratorSend, SendReachesTheInnermostGeneratorAndItsReturnValueComesBack) {
  Generator<int, int, int> direct = returns_what_it_is_sent();
  EXPECT_EQ(direct.next(), 1);
  EXPECT_EQ(direct.send(2), std::nullopt);
  EXPECT_EQ(direct.return_value(), 2);

  auto g2 = []() -> Generator<int, int, int> {
    co_return co_yield yield_from(returns_what_it_is_sent());
  };
  auto g3 = []() -> Generator<int, int, int> {  // two levels, with a value of its own first
    co_yield 0;
    int inner = co_yield yield_from(returns_what_it_is_sent());
    co_return inner * 10;
  };
  Generator<int, int, int> one = g2();
  EXPECT_EQ(one.next(), 1);
  EXPECT_EQ(one.send(2), std::nullopt);
  EXPECT_EQ(one.return_value(), 2);
  Generator<int, int, int> two = g3();
  EXPECT_EQ(two.next(), 0);
  EXPECT_EQ(two.send(5), 1);  // the outer co_yield 0 takes 5 and ignores it
  EXPECT_EQ(two.send(3), std::nullopt);
  EXPECT_EQ(two.return_value(), 30);
}

TEST(GeneratorSend, ANestedGeneratorWithoutASendTypeIgnoresTheValue) {
  auto outer = []() -> Generator<int, void, int> {
    co_yield yield_from(count_to(2));
    std::optional<int> got = co_yield 10;
    co_yield got.value_or(-1);
  };
  Generator<int, void, int> g = outer();
  EXPECT_EQ(g.next(), 0);
  EXPECT_EQ(g.send(99), 1);  // count_to's co_yield has no value to give
  EXPECT_EQ(g.send(99), 10);
  EXPECT_EQ(g.send(4), 4);
}

// --- Return values -----------------------------------------------------------------------------

// test_generators.py, tutorial_tests ("return" also stops the generator), with the value
// StopIteration.value would carry.
TEST(GeneratorReturn, ReturnValueOnceTheBodyReturned) {
  auto f = []() -> Generator<int, std::string> {
    co_yield 1;
    co_return "done";
    co_yield 2;  // never reached
  };
  Generator<int, std::string> g = f();
  EXPECT_THROW((void)g.return_value(), RuntimeError);  // not started
  EXPECT_EQ(g.next(), 1);
  EXPECT_THROW((void)g.return_value(), RuntimeError);  // suspended
  EXPECT_EQ(g.next(), std::nullopt);
  EXPECT_EQ(g.return_value(), "done");
  EXPECT_EQ(g.next(), std::nullopt);  // once stopped, it cannot be resumed
  EXPECT_EQ(g.return_value(), "done");

  Generator<int, std::string> looped = f();
  std::vector<int> got;
  for (int v : looped) got.push_back(v);
  EXPECT_EQ(got, (std::vector<int>{1}));
  EXPECT_EQ(looped.return_value(), "done");
}

TEST(GeneratorReturn, NoReturnValueAfterAnException) {
  auto f = []() -> Generator<int, int> {
    co_yield 1;
    throw std::logic_error("no value");
  };
  Generator<int, int> g = f();
  EXPECT_EQ(g.next(), 1);
  EXPECT_THROW((void)g.next(), std::logic_error);
  EXPECT_THROW((void)g.return_value(), RuntimeError);
}

// `x = yield from g` (PEP 380): the value of the co_yield is what the nested generator
// returned, whatever its type; its values go to the consumer as usual.
TEST(GeneratorReturn, YieldFromGivesTheNestedGeneratorsReturnValue) {
  auto words = [](int n) -> Generator<int, std::string> {
    std::string s;
    for (int i = 0; i < n; ++i) {
      s += static_cast<char>('a' + i);
      co_yield i;
    }
    co_return s;
  };
  auto outer = [&]() -> Generator<int, std::size_t> {
    std::string first = co_yield yield_from(words(2));
    std::string second = co_yield yield_from(words(3));
    co_yield yield_from(count_to(1));  // no return value: the co_yield is void
    co_return first.size() * 10 + second.size();
  };
  Generator<int, std::size_t> g = outer();
  std::vector<int> got;
  for (int v : g) got.push_back(v);
  EXPECT_EQ(got, (std::vector<int>{0, 1, 0, 1, 2, 0}));
  EXPECT_EQ(g.return_value(), 23u);
}

// --- throw_() -----------------------------------------------------------------------------------

// test_generators.py, coroutine_tests: "Now check some throw() conditions": the exception
// is thrown at the co_yield, caught there, and the generator goes on; one it does not catch
// terminates it and comes out of throw_(); send() then gives nullopt; throw_() into a finished
// generator throws the exception at once.
TEST(GeneratorThrow, ThrowIsRaisedAtTheCoYield) {
  std::vector<std::string> printed;
  auto f = [&]() -> Generator<int, void, int> {
    for (;;) {
      try {
        std::optional<int> got = co_yield 0;
        printed.push_back("got " + std::to_string(got.value_or(-1)));
      } catch (const std::invalid_argument& v) {
        printed.push_back(std::string("caught invalid_argument (") + v.what() + ")");
      }
    }
  };
  Generator<int, void, int> g = f();
  EXPECT_EQ(g.next(), 0);
  EXPECT_EQ(g.throw_(std::invalid_argument("xyz")), 0);
  EXPECT_EQ(g.throw_(std::make_exception_ptr(std::invalid_argument("1"))), 0);
  EXPECT_EQ(g.send(1), 0);
  EXPECT_THROW((void)g.throw_(std::domain_error("terminate")), std::domain_error);
  EXPECT_EQ(printed, (std::vector<std::string>{"caught invalid_argument (xyz)",
                                               "caught invalid_argument (1)", "got 1"}));
  EXPECT_EQ(g.send(2), std::nullopt);
  try {
    (void)g.throw_(std::invalid_argument("6"));  // throw on a closed generator
    ADD_FAILURE() << "must throw";
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(), "6");
  }
}

// test_generators.py, coroutine_tests: "throw on just-opened generator": the exception comes
// out at once, the body does not run, and the generator is finished.
TEST(GeneratorThrow, ThrowIntoAJustStartedGeneratorRaisesItAndFinishesIt) {
  bool ran = false;
  auto f = [&]() -> Generator<int> {
    ran = true;
    co_yield 1;
  };
  Generator<int> g = f();
  try {
    (void)g.throw_(std::invalid_argument("7"));
    ADD_FAILURE() << "must throw";
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(), "7");
  }
  EXPECT_FALSE(ran);
  EXPECT_EQ(g.next(), std::nullopt);
  EXPECT_THROW((void)g.throw_(std::exception_ptr()), std::invalid_argument);  // no exception
}

// test_asyncgen.py, test_async_gen_asyncio_athrow_01, the synchronous sanity check: a
// generator that catches the exception and yields gives that value to throw_().
TEST(GeneratorThrow, CaughtThrowGivesTheNextValue) {
  struct FooEr {};
  auto sgen = []() -> Generator<int, void, int> {
    int v = 0;
    try {
      v = (co_yield 1).value_or(0);
    } catch (const FooEr&) {
      v = 1000;
    }
    co_yield v * 2;
  };
  Generator<int, void, int> sg = sgen();
  EXPECT_EQ(sg.next(), 1);
  EXPECT_EQ(sg.throw_(FooEr{}), 2000);
  EXPECT_EQ(sg.send(0), std::nullopt);
}

// test_asyncgen.py, test_async_gen_asyncio_athrow_03 and test_async_gen_asyncio_anext_06, the
// synchronous halves: a generator that swallows the exception and finishes makes throw_() (and
// send()) give nullopt, Python's StopIteration.
TEST(GeneratorThrow, ThrowThatEndsTheGeneratorGivesNullopt) {
  auto foo = []() -> Generator<int> {
    try {
      co_yield 0;
    } catch (...) {
    }
  };
  Generator<int> g = foo();
  EXPECT_EQ(g.next(), 0);
  EXPECT_EQ(g.throw_(std::invalid_argument("v")), std::nullopt);
  Generator<int> h = foo();
  EXPECT_EQ(h.next(), 0);
  EXPECT_EQ(h.next(), std::nullopt);
}

// test_generators.py, SignalAndYieldFromTest.test_raise_and_yield_from: an exception thrown
// into a delegating generator is raised in the innermost one, which may handle it and return;
// its return value is the value of the delegation.
TEST(GeneratorThrow, ThrowReachesTheInnermostDelegatedGenerator) {
  struct Interrupt {};
  auto generator2 = []() -> Generator<int, std::string> {
    try {
      co_yield 0;
    } catch (const Interrupt&) {
      co_return "PASSED";
    }
    co_return "FAILED";
  };
  auto generator1 = [&]() -> Generator<int, std::string> {
    co_return co_yield yield_from(generator2());
  };
  Generator<int, std::string> gen = generator1();
  EXPECT_EQ(gen.next(), 0);
  EXPECT_EQ(gen.throw_(Interrupt{}), std::nullopt);
  EXPECT_EQ(gen.return_value(), "PASSED");
}

// test_generators.py, GeneratorThrowTest.test_exception_context_with_yield_from: what the
// innermost generator does not catch goes on through the delegating ones.
TEST(GeneratorThrow, AnUncaughtThrowGoesOnToTheDelegatingGenerator) {
  Instances::reset();
  std::vector<std::string> log;
  auto inner = [&]() -> Generator<int> {
    Instances local;
    co_yield 1;
    log.push_back("inner resumed");
  };
  auto outer = [&]() -> Generator<int> {
    bool caught = false;
    try {
      co_yield yield_from(inner());
    } catch (const std::runtime_error& e) {
      log.push_back(std::string("outer caught ") + e.what());
      caught = true;
    }
    if (caught) co_yield -1;
  };
  Generator<int> g = outer();
  EXPECT_EQ(g.next(), 1);
  EXPECT_EQ(g.throw_(std::runtime_error("boom")), -1);
  EXPECT_EQ(log, (std::vector<std::string>{"outer caught boom"}));
  EXPECT_EQ(Instances::alive, 0);  // the inner generator's frame is gone
}

// --- close() ------------------------------------------------------------------------------------

// test_generators.py, coroutine_tests: "Now let's try closing a generator": the handler of
// GeneratorExit runs; closing again, closing a just-opened generator and closing a simpler
// one are no-ops.
TEST(GeneratorClose, CloseRunsTheGeneratorExitHandler) {
  std::vector<std::string> printed;
  auto f = [&]() -> Generator<int> {
    try {
      co_yield 0;
    } catch (const GeneratorExit&) {
      printed.push_back("exiting");
    }
  };
  Generator<int> g = f();
  EXPECT_EQ(g.next(), 0);
  g.close();
  EXPECT_EQ(printed, (std::vector<std::string>{"exiting"}));
  g.close();  // a no-op now
  EXPECT_EQ(printed.size(), 1u);
  EXPECT_EQ(g.next(), std::nullopt);

  Generator<int> fresh = f();
  fresh.close();  // close on a just-opened generator: nothing runs
  EXPECT_EQ(printed.size(), 1u);
  EXPECT_EQ(fresh.next(), std::nullopt);

  auto simpler = []() -> Generator<int> { co_yield 0; };
  Generator<int> s = simpler();
  EXPECT_EQ(s.next(), 0);
  s.close();  // close normally
  EXPECT_EQ(s.next(), std::nullopt);

  Generator<int> moved = simpler();
  Generator<int> keeper = std::move(moved);
  moved.close();  // NOLINT(bugprone-use-after-move): a moved-from generator: nothing to do
}

// test_generators.py, coroutine_tests: "And finalization" and "GeneratorExit is not caught by
// except Exception": catch (const std::exception&) does not stop it; the code it unwinds
// through runs its destructors (Python's finally).
TEST(GeneratorClose, GeneratorExitIsNotAStdException) {
  std::vector<std::string> printed;
  struct Finally {
    std::vector<std::string>* printed;
    ~Finally() { printed->push_back("finally"); }
  };
  auto f = [&]() -> Generator<int> {
    Finally finally{&printed};
    try {
      co_yield 0;
    } catch (const std::exception&) {
      printed.push_back("except");
    }
    printed.push_back("after");
  };
  Generator<int> g = f();
  EXPECT_EQ(g.next(), 0);
  g.close();
  EXPECT_EQ(printed, (std::vector<std::string>{"finally"}));
}

// test_generators.py, coroutine_tests: "Now let's try some ill-behaved generators" (the
// generator yields in response to GeneratorExit; closing it again then succeeds, since the
// new co_yield is outside the handler), and test_asyncgen.py, test_async_gen_asyncio_aclose_11,
// the synchronous half.
TEST(GeneratorClose, YieldingInResponseToGeneratorExitIsARuntimeError) {
  auto f = []() -> Generator<std::string> {
    bool exiting = false;
    try {
      co_yield "first";
    } catch (const GeneratorExit&) {
      exiting = true;
    }
    if (exiting) co_yield "foo!";
  };
  Generator<std::string> g = f();
  EXPECT_EQ(g.next(), "first");
  try {
    g.close();
    ADD_FAILURE() << "close() must throw";
  } catch (const RuntimeError& e) {
    EXPECT_STREQ(e.what(), "generator ignored GeneratorExit");
  }
  g.close();  // GeneratorExit at the second co_yield, not caught: finished
  EXPECT_EQ(g.next(), std::nullopt);

  auto swallow_then_yield = []() -> Generator<int> {
    try {
      co_yield 0;
    } catch (...) {
    }
    co_yield 1;
  };
  Generator<int> h = swallow_then_yield();
  EXPECT_EQ(h.next(), 0);
  EXPECT_THROW(h.close(), RuntimeError);
}

// test_asyncgen.py, test_async_gen_asyncio_aclose_10, the synchronous half: a generator that
// swallows GeneratorExit and finishes closes normally.
TEST(GeneratorClose, SwallowingGeneratorExitAndFinishingIsFine) {
  bool finished = false;
  auto foo = [&]() -> Generator<int> {
    try {
      co_yield 0;
    } catch (...) {
    }
    finished = true;
  };
  Generator<int> g = foo();
  EXPECT_EQ(g.next(), 0);
  g.close();
  EXPECT_TRUE(finished);
}

// test_generators.py, coroutine_tests: "And errors thrown during closing should propagate".
TEST(GeneratorClose, AnErrorThrownWhileClosingComesOut) {
  auto f = []() -> Generator<int> {
    try {
      co_yield 0;
    } catch (const GeneratorExit&) {
      throw std::invalid_argument("fie!");
    }
  };
  Generator<int> g = f();
  EXPECT_EQ(g.next(), 0);
  try {
    g.close();
    ADD_FAILURE() << "close() must throw";
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(), "fie!");
  }
  EXPECT_EQ(g.next(), std::nullopt);
}

// Python 3.13: a generator that returns a value in response to GeneratorExit; close() returns
// it there, return_value() here.
TEST(GeneratorClose, AReturnInResponseToGeneratorExitIsItsReturnValue) {
  auto f = []() -> Generator<int, int> {
    try {
      co_yield 0;
    } catch (const GeneratorExit&) {
      co_return 42;
    }
    co_return 0;
  };
  Generator<int, int> g = f();
  EXPECT_EQ(g.next(), 0);
  g.close();
  EXPECT_EQ(g.return_value(), 42);
}

// PEP 380: closing a delegating generator closes the innermost one first; then GeneratorExit
// is raised in each delegating one, even when a nested one caught it and returned.
TEST(GeneratorClose, CloseThrowsAtTheInnermostGeneratorFirstThenInEachDelegatingOne) {
  std::vector<std::string> log;
  auto inner = [&]() -> Generator<int, int> {
    try {
      co_yield 1;
    } catch (const GeneratorExit&) {
      log.push_back("inner exits");
      co_return 5;  // Python's yield from raises GeneratorExit in the parent all the same
    }
    co_return 0;
  };
  auto middle = [&]() -> Generator<int> {
    try {
      int r = co_yield yield_from(inner());
      log.push_back("middle got " + std::to_string(r));
    } catch (const GeneratorExit&) {
      log.push_back("middle exits");
      throw;
    }
    co_yield 2;
  };
  auto outer = [&]() -> Generator<int> {
    try {
      co_yield yield_from(middle());
    } catch (const GeneratorExit&) {
      log.push_back("outer exits");
    }
  };
  Generator<int> g = outer();
  EXPECT_EQ(g.next(), 1);
  g.close();
  EXPECT_EQ(log, (std::vector<std::string>{"inner exits", "middle exits", "outer exits"}));
  EXPECT_EQ(g.next(), std::nullopt);
}

// PEP 380 (Python's yield from closes the nested generator with its close()): a nested
// generator that yields in response makes that close() fail, so RuntimeError is raised in the
// delegating generator, at its yield_from; the nested one is dropped. Uncaught, the RuntimeError
// comes out of close(), and the generator is finished.
TEST(GeneratorClose, ANestedGeneratorThatIgnoresGeneratorExitRaisesRuntimeErrorInItsParent) {
  Instances::reset();
  auto stubborn = []() -> Generator<int> {
    Instances local;
    bool exiting = false;
    try {
      co_yield 1;
    } catch (const GeneratorExit&) {
      exiting = true;
    }
    if (exiting) co_yield 2;
  };
  auto outer = [&]() -> Generator<int> {
    co_yield yield_from(stubborn());
    co_yield 3;
  };
  Generator<int> g = outer();
  EXPECT_EQ(g.next(), 1);
  try {
    g.close();
    ADD_FAILURE() << "close() must throw";
  } catch (const RuntimeError& e) {
    EXPECT_STREQ(e.what(), "generator ignored GeneratorExit");
  }
  EXPECT_EQ(Instances::alive, 0);  // the nested generator was dropped
  EXPECT_EQ(g.next(), std::nullopt);

  std::vector<std::string> log;
  auto forgiving = [&]() -> Generator<int> {
    try {
      co_yield yield_from(stubborn());
    } catch (const RuntimeError& e) {
      log.push_back(std::string("outer caught: ") + e.what());
    }
  };
  Generator<int> h = forgiving();
  EXPECT_EQ(h.next(), 1);
  h.close();  // the outer generator finished: close() succeeds
  EXPECT_EQ(log, (std::vector<std::string>{"outer caught: generator ignored GeneratorExit"}));
}

// PEP 380: GeneratorExit is raised again in a delegating generator only when the generator it
// delegated to was closed; a delegation its handler starts afterwards ends normally.
TEST(GeneratorClose, ADelegationStartedWhileClosingEndsNormally) {
  std::vector<std::string> log;
  auto outer = [&]() -> Generator<int> {
    bool exiting = false;
    try {
      co_yield yield_from(count_to(3));
    } catch (const GeneratorExit&) {
      exiting = true;
    }
    if (exiting) {
      co_yield yield_from(std::vector<int>());  // yields nothing
      log.push_back("after the empty delegation");
    }
  };
  Generator<int> g = outer();
  EXPECT_EQ(g.next(), 0);
  g.close();
  EXPECT_EQ(log, (std::vector<std::string>{"after the empty delegation"}));
}

TEST(GeneratorClose, CloseDestroysTheLocalsOfEveryLevel) {
  Instances::reset();
  Generator<int> g = nested_with_locals(5);
  for (int i = 0; i < 4; ++i) (void)g.next();
  EXPECT_EQ(Instances::alive, 4);
  g.close();
  EXPECT_EQ(Instances::alive, 0);
  EXPECT_EQ(Instances::destroyed, 4);
  EXPECT_EQ(g.next(), std::nullopt);
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

TEST(GeneratorStackSafety, CloseAtTheBottomOfHundredThousandLevels) {
  Instances::reset();
  Generator<int> g = nested_with_locals(100'000);
  while (g.next() != 0) {
  }
  EXPECT_EQ(Instances::alive, 100'001);
  g.close();
  EXPECT_EQ(Instances::alive, 0);
}

TEST(GeneratorStackSafety, TenMillionValues) {
  long long sum = 0;
  for (int v : count_to(10'000'000)) sum += v & 1;
  EXPECT_EQ(sum, 5'000'000);
}

}  // namespace
