// ExceptionGroup's split and subgroup (by type and by condition, nested groups split in place
// with their messages, a group that matches as a whole kept as it is) and except_star, the
// `except*` clause, after CPython's test_exception_group.py and test_except_star.py; and
// holds<E>, which tells an exception's type whether it is exactly E or derived from it.
#include <system_error>

#include "support/asyncio_test.hpp"

using asyncio::ExceptionGroup;

namespace {

std::exception_ptr value_error(const char* what) {
  return std::make_exception_ptr(std::invalid_argument(what));
}
std::exception_ptr type_error(const char* what) {
  return std::make_exception_ptr(std::logic_error(what));
}
std::exception_ptr os_error(int code) {
  return std::make_exception_ptr(std::system_error(code, std::generic_category()));
}
std::exception_ptr group_of(const char* message, std::vector<std::exception_ptr> exceptions) {
  return std::make_exception_ptr(ExceptionGroup(message, std::move(exceptions)));
}

/// The group as text: message[leaf, nested[...], ...], each leaf by what().
std::string shape(const std::exception_ptr& error) {
  try {
    std::rethrow_exception(error);
  } catch (const ExceptionGroup& group) {
    std::string text = group.message() + "[";
    for (std::size_t i = 0; i < group.size(); ++i)
      text += (i ? ", " : "") + shape(group.exceptions()[i]);
    return text + "]";
  } catch (const std::exception& e) {
    return e.what();
  } catch (const asyncio::CancelledError&) {
    return "CancelledError";
  }
}
std::string shape(const std::optional<ExceptionGroup>& group) {
  return group ? shape(std::make_exception_ptr(*group)) : "none";
}

class MyCancellation final : public asyncio::CancelledError {};

TEST(HoldsTest, TellsTheExactTypeABaseAndAnotherTypeApart) {
  const auto cancelled = std::make_exception_ptr(asyncio::CancelledError());
  const auto derived = std::make_exception_ptr(MyCancellation());
  const auto timeout = std::make_exception_ptr(asyncio::TimeoutError());
  EXPECT_TRUE(asyncio::holds<asyncio::CancelledError>(cancelled));
  EXPECT_TRUE(asyncio::holds<asyncio::CancelledError>(derived));  // a subclass is one too
  EXPECT_FALSE(asyncio::holds<MyCancellation>(cancelled));
  EXPECT_FALSE(asyncio::holds<asyncio::CancelledError>(timeout));
  EXPECT_TRUE(asyncio::holds<asyncio::Error>(timeout));
  EXPECT_TRUE(asyncio::holds<std::exception>(timeout));
  EXPECT_FALSE(asyncio::holds<asyncio::CancelledError>(nullptr));
}

ExceptionGroup nested_group() {
  return ExceptionGroup("outer", {value_error("v1"), type_error("t1"),
                                  group_of("inner", {value_error("v2"), os_error(EPIPE)}),
                                  std::make_exception_ptr(asyncio::CancelledError())});
}

TEST(ExceptionGroupTest, SplitByTypeKeepsTheNestingAndTheMessages) {
  const ExceptionGroup group = nested_group();
  // std::invalid_argument derives from std::logic_error: both v's and t1 are logic errors.
  auto [logic, rest] = group.split<std::logic_error>();
  EXPECT_EQ(shape(logic), "outer[v1, t1, inner[v2]]");
  EXPECT_EQ(shape(rest), "outer[inner[" + shape(os_error(EPIPE)) + "], CancelledError]");
  auto [values, others] = group.split<std::invalid_argument>();
  EXPECT_EQ(shape(values), "outer[v1, inner[v2]]");
  EXPECT_EQ(shape(others), "outer[t1, inner[" + shape(os_error(EPIPE)) + "], CancelledError]");
  // Not a std::exception, and still found (Python's BaseException leaves).
  EXPECT_EQ(shape(group.subgroup<asyncio::CancelledError>()), "outer[CancelledError]");
}

TEST(ExceptionGroupTest, NoMatchGivesNoneAndAWholeMatchGivesTheGroupItself) {
  const ExceptionGroup group = nested_group();
  EXPECT_FALSE(group.subgroup<std::bad_alloc>().has_value());
  auto [whole, nothing] = group.split<ExceptionGroup>();  // the group is one itself
  EXPECT_FALSE(nothing.has_value());
  ASSERT_TRUE(whole.has_value());
  EXPECT_EQ(whole->exceptions(), group.exceptions());  // the same exception objects
}

TEST(ExceptionGroupTest, ANestedGroupThatMatchesWholeIsKeptAsItIs) {
  const std::exception_ptr inner = group_of("inner", {value_error("v")});
  const ExceptionGroup group("outer", {inner, type_error("t")});
  // The condition is asked of the outer group first: it must not hold there.
  const std::optional<ExceptionGroup> groups =
      group.subgroup([](const std::exception_ptr& e) { return shape(e) == "inner[v]"; });
  ASSERT_TRUE(groups.has_value());
  EXPECT_EQ(groups->message(), "outer");
  ASSERT_EQ(groups->size(), 1u);
  EXPECT_EQ(groups->exceptions()[0], inner);  // not a copy
}

TEST(ExceptionGroupTest, SplitByCondition) {
  const ExceptionGroup group("g", {value_error("keep"), value_error("drop"), type_error("keep")});
  auto [kept, dropped] =
      group.split([](const std::exception_ptr& e) { return shape(e) == "keep"; });
  EXPECT_EQ(shape(kept), "g[keep, keep]");
  EXPECT_EQ(shape(dropped), "g[drop]");
}

TEST(ExceptStarTest, EachClauseTakesItsPartAndTheRestGoesOn) {
  std::vector<std::string> handled;
  std::exception_ptr rest = std::make_exception_ptr(nested_group());
  rest = asyncio::except_star<std::invalid_argument>(rest, [&](const ExceptionGroup& g) {
    handled.push_back("invalid_argument: " + shape(std::make_exception_ptr(g)));
  });
  rest = asyncio::except_star<std::system_error>(rest, [&](const ExceptionGroup& g) {
    handled.push_back("system_error: " + shape(std::make_exception_ptr(g)));
  });
  rest = asyncio::except_star<std::bad_alloc>(
      rest, [&](const ExceptionGroup&) { handled.push_back("never"); });
  EXPECT_EQ(handled, (std::vector<std::string>{
                         "invalid_argument: outer[v1, inner[v2]]",
                         "system_error: outer[inner[" + shape(os_error(EPIPE)) + "]]"}));
  EXPECT_EQ(shape(rest), "outer[t1, CancelledError]");
  rest = asyncio::except_star<std::logic_error>(rest, [](const ExceptionGroup&) {});
  rest = asyncio::except_star<asyncio::CancelledError>(rest, [](const ExceptionGroup&) {});
  EXPECT_EQ(rest, nullptr);  // all handled
}

TEST(ExceptStarTest, ALoneExceptionIsWrappedForTheHandlerAndLeftAloneOtherwise) {
  const std::exception_ptr lone = value_error("alone");
  std::string seen;
  EXPECT_EQ(
      asyncio::except_star<std::system_error>(lone, [&](const ExceptionGroup&) { seen = "wrong"; }),
      lone);
  EXPECT_EQ(asyncio::except_star<std::invalid_argument>(
                lone, [&](const ExceptionGroup& g) { seen = shape(std::make_exception_ptr(g)); }),
            nullptr);
  EXPECT_EQ(seen, "[alone]");
  EXPECT_EQ(asyncio::except_star<std::exception>(nullptr, [](const ExceptionGroup&) {}), nullptr);
}

TEST(ExceptStarTest, WorksOnWhatATaskGroupThrows) {
  // Both children fail in their first step, which the loop runs in one
  // iteration, before the group hears of either failure: neither is cancelled.
  // (With timers the second could still be asleep when the first fails.)
  auto failing = [](int code) -> asyncio::Coro<void> {
    if (code != 0) throw std::system_error(code, std::generic_category());
    co_return;
  };
  auto body = [&]() -> asyncio::Coro<int> {
    int handled = 0;
    try {
      co_await asyncio::task_group([&](asyncio::TaskGroup& tg) -> asyncio::Coro<void> {
        tg.create_task(failing(EPIPE));
        tg.create_task(failing(ECONNRESET));
        co_return;
      });
    } catch (...) {
      std::exception_ptr rest = asyncio::except_star<std::system_error>(
          std::current_exception(),
          [&](const ExceptionGroup& group) { handled = static_cast<int>(group.size()); });
      if (rest) std::rethrow_exception(rest);
    }
    co_return handled;
  };
  EXPECT_EQ(asyncio::run(body()), 2);
}

}  // namespace
