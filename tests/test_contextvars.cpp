// Context variables: ContextVar get/set/reset and its errors, Context run/copy/get, and how the
// loop carries contexts: a task runs in a copy of its creator's context (or in the one given to
// create_task), callbacks in a copy of the context current when they were scheduled. Ports of
// CPython's test_context.py and of the test_context_* cases of test_tasks.py name their source.
#include <unistd.h>

#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "support/asyncio_test.hpp"

using namespace std::chrono_literals;
using asyncio::Context;
using asyncio::ContextVar;
using asyncio::Coro;
using asyncio::Task;
using asyncio::TaskOptions;

namespace {

struct ContextVarsTest : asyncio_test::LoopFixture {};

// test_context.py: test_context_var_new_*, test_context_getset_*, test_context_getset_4/5
// (reset errors), run on this thread outside any loop.
TEST(ContextVarTest, GetSetResetAndTheirErrors) {
  ContextVar<int> plain("plain");
  ContextVar<std::string> with_default("with_default", "nope");
  EXPECT_EQ(plain.name(), "plain");
  EXPECT_THROW(plain.get(), asyncio::LookupError);
  EXPECT_EQ(plain.get(7), 7);
  EXPECT_EQ(with_default.get(), "nope");
  EXPECT_EQ(with_default.get("fallback"), "fallback");

  Context ctx;
  ctx.run([&] {
    auto first = plain.set(1);
    EXPECT_FALSE(first.old_value());
    EXPECT_EQ(plain.get(), 1);
    auto second = plain.set(2);
    EXPECT_EQ(second.old_value(), 1);
    EXPECT_EQ(&second.var(), &plain);
    plain.reset(second);
    EXPECT_EQ(plain.get(), 1);
    EXPECT_THROW(plain.reset(second), asyncio::RuntimeError);  // used once already
    with_default.set("x");
    ContextVar<int> another("another");
    auto others = another.set(3);
    EXPECT_THROW(plain.reset(others), std::invalid_argument);  // another variable's token
    plain.reset(first);
    EXPECT_THROW(plain.get(), asyncio::LookupError);  // back to no value
    auto inner_token = plain.set(5);
    Context().run([&] {  // another context
      EXPECT_THROW(plain.reset(inner_token), std::invalid_argument);
    });
  });
  EXPECT_EQ(ctx.get(plain), 5);
  EXPECT_EQ(ctx.get(with_default), "x");
  EXPECT_THROW(plain.get(), asyncio::LookupError);  // nothing leaked out of run()
}

// test_context.py: test_context_run_*, test_context_copy_1, test_context_new_* (len, in).
TEST(ContextVarTest, RunKeepsWhatItSetAndCopiesChangeApart) {
  ContextVar<int> var("var");
  Context ctx;
  EXPECT_EQ(ctx.size(), 0u);
  EXPECT_FALSE(ctx.contains(var));
  ctx.run([&](int v) { var.set(v); }, 10);
  EXPECT_EQ(ctx.size(), 1u);
  EXPECT_TRUE(ctx.contains(var));
  Context same = ctx;  // the same context, as a Python reference
  EXPECT_TRUE(same == ctx);
  Context copy = ctx.copy();
  EXPECT_FALSE(copy == ctx);
  copy.run([&] {
    EXPECT_EQ(var.get(), 10);
    var.set(20);
  });
  EXPECT_EQ(copy.get(var), 20);
  EXPECT_EQ(ctx.get(var), 10);
  EXPECT_EQ(ctx.run([&] { return var.get() + 1; }), 11);
  // Entering a context that is entered already: RuntimeError, as Python.
  ctx.run([&] { EXPECT_THROW(same.run([] {}), asyncio::RuntimeError); });
  // The copy made by copy_context() inside run() has the values current there.
  Context snapshot = ctx.run([] { return asyncio::copy_context(); });
  EXPECT_EQ(snapshot.get(var), 10);
}

// test_tasks.py test_context_1: a task starts with a copy of its creator's values; neither sees
// what the other sets afterwards.
TEST_F(ContextVarsTest, ATaskRunsInACopyOfItsCreatorsContext) {
  ContextVar<std::string> cvar("cvar", "nope");
  auto sub = [&]() -> Coro<void> {
    co_await asyncio::sleep(1ms);
    EXPECT_EQ(cvar.get(), "nope");
    cvar.set("something else");
  };
  auto main = [&]() -> Coro<void> {
    EXPECT_EQ(cvar.get(), "nope");
    Task<void> subtask = asyncio::create_task(sub());
    cvar.set("yes");
    EXPECT_EQ(cvar.get(), "yes");
    co_await subtask;
    EXPECT_EQ(cvar.get(), "yes");
  };
  run(main());
}

// test_futures2.py test_task_exc_handler_correct_context (gh-96704): the handler hears of a task
// whose exception nobody retrieved in the task's context.
TEST_F(ContextVarsTest, TheHandlerHearsOfAnUnretrievedExceptionInTheTasksContext) {
  ContextVar<std::string> name("name", "foo");
  std::vector<std::string> seen;
  loop->set_exception_handler(
      [&](asyncio::EventLoop&, const asyncio::ExceptionContext&) { seen.push_back(name.get()); });
  auto failing = [&]() -> Coro<void> {
    name.set("bar");
    throw std::runtime_error("1/0");
    co_return;
  };
  auto main = [&]() -> Coro<void> {
    (void)asyncio::create_task(failing());
    co_await asyncio::sleep(0s);
    co_await asyncio::sleep(0s);
  };
  run(main());
  EXPECT_EQ(seen, (std::vector<std::string>{"bar"}));
}

void fut_on_done(asyncio::Future<void>);
ContextVar<std::string>* on_done_var = nullptr;
void fut_on_done(asyncio::Future<void>) {
  on_done_var->set("something else");  // must not reach the task's context
}

// test_tasks.py test_context_2: done callbacks and call_soon run in copies of the context
// current when they were added.
TEST_F(ContextVarsTest, CallbacksRunInACopyOfTheContextTheyWereScheduledIn) {
  ContextVar<std::string> cvar("cvar", "nope");
  on_done_var = &cvar;
  auto main = [&]() -> Coro<void> {
    EXPECT_EQ(cvar.get(), "nope");
    for (int j = 0; j < 2; ++j) {
      auto fut = loop->create_future<void>();
      fut.add_done_callback(&fut_on_done);
      cvar.set("yes" + std::to_string(j));
      std::string seen_by_call_soon;
      loop->call_soon([&, fut]() mutable {
        seen_by_call_soon = cvar.get();
        fut.set_result();
      });
      co_await fut;
      EXPECT_EQ(seen_by_call_soon, "yes" + std::to_string(j));
      EXPECT_EQ(cvar.get(), "yes" + std::to_string(j));
      for (int i = 0; i < 3; ++i) {
        cvar.set("yes" + std::to_string(i) + "-" + std::to_string(j));
        co_await asyncio::sleep(1ms);
        EXPECT_EQ(cvar.get(), "yes" + std::to_string(i) + "-" + std::to_string(j));
      }
    }
  };
  run(main());
}

// test_tasks.py test_context_3: many tasks, each setting the variable between its awaits.
TEST_F(ContextVarsTest, ManyInterleavedTasksEachKeepTheirOwnValue) {
  ContextVar<int> cvar("cvar", -1);
  auto sub = [&](int num) -> Coro<void> {
    for (int i = 0; i < 10; ++i) {
      cvar.set(num + i);
      for (int k = 0; k < (num + i) % 3; ++k) co_await asyncio::sleep(0s);
      EXPECT_EQ(cvar.get(), num + i);
    }
  };
  auto main = [&]() -> Coro<void> {
    std::vector<Task<void>> tasks;
    for (int i = 0; i < 500; ++i) tasks.push_back(asyncio::create_task(sub(i)));
    co_await asyncio::gather(tasks);
    EXPECT_EQ(cvar.get(), -1);
  };
  run(main());
}

// The loop keeps each task's values beside the task's entry in its list of tasks; finished
// tasks leave holes there, squeezed out as new tasks come. Tasks that never set a variable, set
// one after an await, and finish at scattered times are mixed, so that every value has to move
// with its task.
TEST_F(ContextVarsTest, ValuesStayWithTheirTasksAsTheLoopsListOfTasksIsCompacted) {
  ContextVar<int> cvar("cvar", -1);
  auto sub = [&](int num) -> Coro<void> {
    for (int k = 0; k < num % 5; ++k) co_await asyncio::sleep(0s);
    if (num % 3 != 0) cvar.set(num);
    for (int k = 0; k < num % 7; ++k) co_await asyncio::sleep(0s);
    EXPECT_EQ(cvar.get(), num % 3 != 0 ? num : -1);
  };
  auto main = [&]() -> Coro<void> {
    std::vector<Task<void>> tasks;
    for (int round = 0; round < 20; ++round) {
      for (int i = 0; i < 50; ++i) tasks.push_back(asyncio::create_task(sub(round * 50 + i)));
      co_await asyncio::sleep(0s);
      co_await asyncio::sleep(0s);
    }
    co_await asyncio::gather(tasks);
    EXPECT_EQ(cvar.get(), -1);
  };
  run(main());
}

// test_tasks.py test_context_4 (and test_context_5's shape): a task given context= runs in that
// context itself, so what it sets is there afterwards.
TEST_F(ContextVarsTest, ATaskGivenAContextRunsInItItself) {
  ContextVar<int> cvar("cvar");
  auto coro = [&](int value) -> Coro<void> {
    co_await asyncio::sleep(0s);
    cvar.set(value);
  };
  auto main = [&]() -> Coro<std::vector<std::optional<int>>> {
    std::vector<std::optional<int>> seen;
    Context ctx = asyncio::copy_context();
    seen.push_back(ctx.get(cvar));
    Task<void> t1 = asyncio::create_task(coro(1), TaskOptions{.context = &ctx});
    co_await t1;
    seen.push_back(ctx.get(cvar));
    Task<void> t2 = asyncio::create_task(coro(2), TaskOptions{.context = &ctx});
    co_await t2;
    seen.push_back(ctx.get(cvar));
    EXPECT_TRUE(t2.get_context() == ctx);  // test_task_get_context: the same context
    EXPECT_FALSE(cvar.get(0) != 0);        // the creator's own context is untouched
    co_return seen;
  };
  EXPECT_EQ(run(main()), (std::vector<std::optional<int>>{std::nullopt, 1, 2}));
}

TEST_F(ContextVarsTest, GetContextGivesTheTasksValues) {
  ContextVar<int> cvar("cvar");
  auto child = [&]() -> Coro<void> {
    cvar.set(cvar.get() + 1);
    EXPECT_EQ(asyncio::current_task().get_context().get(cvar), 2);
    co_await asyncio::sleep(0s);
  };
  auto main = [&]() -> Coro<void> {
    cvar.set(1);
    Task<void> t = asyncio::create_task(child());
    EXPECT_EQ(t.get_context().get(cvar), 1);  // copied at create_task
    co_await t;
    EXPECT_EQ(t.get_context().get(cvar), 2);  // kept once done
    EXPECT_EQ(cvar.get(), 1);
  };
  run(main());
}

// A task created while no variable is set holds no context; the first set() in it gives it
// one, which it keeps across its awaits, and which no other task sees.
TEST_F(ContextVarsTest, ATaskThatSetsAVariableForTheFirstTimeKeepsItAcrossAwaits) {
  ContextVar<int> cvar("cvar", 0);
  auto setter = [&](int value) -> Coro<int> {
    co_await asyncio::sleep(0s);
    cvar.set(value);
    co_await asyncio::sleep(0s);
    co_await asyncio::sleep(1ms);
    co_return cvar.get();
  };
  auto reader = [&]() -> Coro<int> {
    co_await asyncio::sleep(0s);
    co_await asyncio::sleep(0s);
    co_return cvar.get();
  };
  auto main = [&]() -> Coro<void> {
    auto [a, b, seen] = co_await asyncio::gather(setter(1), setter(2), reader());
    EXPECT_EQ(a, 1);
    EXPECT_EQ(b, 2);
    EXPECT_EQ(seen, 0);
    EXPECT_EQ(cvar.get(), 0);
  };
  run(main());
}

TEST_F(ContextVarsTest, WhatACallbackWithoutAContextSetsDiesWithIt) {
  ContextVar<int> cvar("cvar", 0);
  std::vector<int> seen;
  loop->call_soon([&] {
    seen.push_back(cvar.get());
    cvar.set(5);
    seen.push_back(cvar.get());
  });
  loop->call_soon([&] { seen.push_back(cvar.get()); });
  run_iterations(1);
  EXPECT_EQ(seen, (std::vector<int>{0, 5, 0}));
  EXPECT_EQ(cvar.get(), 0);  // nor does it reach the thread's own context
}

TEST_F(ContextVarsTest, CallSoonCallLaterAndCallAtTakeAContext) {  // Python's context=
  ContextVar<std::string> cvar("cvar", "none");
  Context ctx;
  ctx.run([&] { cvar.set("given"); });
  std::vector<std::string> seen;
  loop->call_soon(
      ctx, [&](const char* tag) { seen.push_back(tag + cvar.get()); }, "soon:");
  loop->call_later(0ms, ctx, [&] { seen.push_back("later:" + cvar.get()); });
  auto all_ran = loop->create_future<void>();
  loop->call_at(loop->time(), ctx, [&] {
    seen.push_back("at:" + cvar.get());
    cvar.set("changed in the callback");
    all_ran.set_result();
  });
  run(all_ran);
  EXPECT_EQ(seen, (std::vector<std::string>{"soon:given", "later:given", "at:given"}));
  EXPECT_EQ(ctx.get(cvar), "given");  // each callback ran in a copy
}

TEST_F(ContextVarsTest, TheThreadsValuesReachTheMainTaskAndComeBackUnchanged) {
  ContextVar<int> cvar("cvar", 0);
  auto token = cvar.set(1);  // outside any loop: the thread's own context
  auto main = [&]() -> Coro<int> {
    const int seen = cvar.get();
    cvar.set(2);
    co_await asyncio::sleep(0s);
    co_return seen * 10 + cvar.get();
  };
  EXPECT_EQ(run(main()), 12);
  EXPECT_EQ(cvar.get(), 1);
  cvar.reset(token);
  EXPECT_EQ(cvar.get(), 0);
}

// A Token belongs to the context it was made in for as long as it exists, as Python's refers to
// its Context: a context made later in the memory of a finished one (tasks and Context states
// are recycled) or on another thread is another context.
TEST_F(ContextVarsTest, ATokenIsRefusedByContextsMadeAfterItsOwnEnded) {
  ContextVar<int> cvar("cvar", 0);
  using Token = ContextVar<int>::Token;
  std::optional<Token> token_of_task;
  bool accepted = false;
  auto set_in_task = [&]() -> Coro<void> {
    token_of_task.emplace(cvar.set(1));
    co_return;
  };
  auto reset_in_task = [&]() -> Coro<void> {
    try {
      cvar.reset(*token_of_task);
      accepted = true;
    } catch (const std::invalid_argument&) {
    }
    co_return;
  };
  auto main = [&]() -> Coro<void> {
    for (int i = 0; i < 3; ++i) {  // each new task takes the memory the last one freed
      co_await asyncio::create_task(set_in_task());
      co_await asyncio::create_task(reset_in_task());
      EXPECT_FALSE(accepted);
    }
  };
  run(main());

  for (int i = 0; i < 3; ++i) {
    std::optional<Token> token;
    Context().run([&] { token.emplace(cvar.set(2)); });
    Context().run([&] { EXPECT_THROW(cvar.reset(*token), std::invalid_argument); });
  }

  Token here = cvar.set(3);  // the thread's own context
  bool refused_elsewhere = false;
  std::thread([&] {
    try {
      cvar.reset(here);
    } catch (const std::invalid_argument&) {
      refused_elsewhere = true;
    }
  }).join();
  EXPECT_TRUE(refused_elsewhere);
  cvar.reset(here);
  EXPECT_EQ(cvar.get(), 0);
}

// test_eager_task_factory.py test_context_vars: the eager step runs in the task's copy too.
TEST_F(ContextVarsTest, AnEagerTaskRunsItsFirstStepInItsOwnCopy) {
  ContextVar<int> cv("cv", 0);
  bool first_step_ran = false;
  bool second_step_ran = false;
  auto coro = [&]() -> Coro<void> {
    EXPECT_EQ(cv.get(), 1);
    cv.set(2);
    EXPECT_EQ(cv.get(), 2);
    first_step_ran = true;
    co_await asyncio::sleep(1ms);
    EXPECT_EQ(cv.get(), 2);
    cv.set(3);
    EXPECT_EQ(cv.get(), 3);
    second_step_ran = true;
  };
  auto main = [&]() -> Coro<void> {
    cv.set(1);
    Task<void> t = asyncio::create_task(coro(), TaskOptions{.eager_start = true});
    EXPECT_TRUE(first_step_ran);
    EXPECT_FALSE(second_step_ran);
    EXPECT_EQ(cv.get(), 1);
    co_await t;
    EXPECT_TRUE(second_step_ran);
    EXPECT_EQ(cv.get(), 1);
  };
  run(main());
}

// Python's add_reader makes a Handle with a copy of the current context; what the reader sets
// stays in it and reaches no later callback.
TEST_F(ContextVarsTest, AReaderRunsInACopyOfTheContextItWasAddedInAndKeepsWhatItSets) {
  ContextVar<int> cvar("cvar", 0);
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  std::vector<int> seen;
  auto done = loop->create_future<void>();
  Context ctx;
  ctx.run([&] {
    cvar.set(7);
    loop->add_reader(fds[0], [&] {
      seen.push_back(cvar.get());
      cvar.set(42);
      loop->remove_reader(fds[0]);
      loop->call_soon([&] {  // scheduled from the reader: a copy of the reader's context
        seen.push_back(cvar.get());
        loop->call_later(0s, [&] {
          seen.push_back(cvar.get());
          done.set_result();
        });
      });
    });
  });
  auto unrelated = [&] { seen.push_back(cvar.get()); };
  loop->call_soon(unrelated);
  ASSERT_EQ(::write(fds[1], "x", 1), 1);
  run(done);
  loop->call_soon(unrelated);
  run_iterations(1);
  ::close(fds[0]);
  ::close(fds[1]);
  EXPECT_EQ(seen, (std::vector<int>{0, 7, 42, 42, 0}));
}

// Creating an eager task given a Context that is entered around create_task: the task starts
// on a later iteration, in that context (Python raises RuntimeError here instead).
TEST_F(ContextVarsTest, AnEagerTaskWhoseContextIsEnteredStartsLater) {
  ContextVar<int> cvar("cvar", 0);
  auto child = [&]() -> Coro<int> { co_return cvar.get(); };
  auto main = [&]() -> Coro<int> {
    Context ctx;
    Task<int> t = ctx.run([&] {
      cvar.set(3);
      return asyncio::create_task(child(), TaskOptions{.eager_start = true, .context = &ctx});
    });
    EXPECT_FALSE(t.done());
    co_return co_await t;
  };
  EXPECT_EQ(run(main()), 3);
}

}  // namespace
