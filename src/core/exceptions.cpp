// ExceptionGroup::split, as Python's BaseExceptionGroup.split: the condition is asked of the
// group, then of each exception in turn, and nested groups are split in place.
#include "asyncio/exceptions.hpp"

namespace asyncio {

ExceptionGroup::Split ExceptionGroup::split(const Condition& condition) const {
  if (condition(std::make_exception_ptr(*this))) return {*this, std::nullopt};
  return split_exceptions(condition);
}

ExceptionGroup::Split ExceptionGroup::split_exceptions(const Condition& condition) const {
  std::vector<std::exception_ptr> matched, rest;
  for (const std::exception_ptr& error : exceptions_) {
    if (condition(error)) {  // a leaf, or a nested group all of which matches: kept as it is
      matched.push_back(error);
      continue;
    }
    try {
      std::rethrow_exception(error);
    } catch (const ExceptionGroup& nested) {
      auto [nested_match, nested_rest] = nested.split_exceptions(condition);
      if (nested_match) matched.push_back(std::make_exception_ptr(std::move(*nested_match)));
      if (nested_rest) rest.push_back(std::make_exception_ptr(std::move(*nested_rest)));
    } catch (...) {
      rest.push_back(error);
    }
  }
  Split result;
  if (!matched.empty()) result.first = derive(std::move(matched));
  if (!rest.empty()) result.second = derive(std::move(rest));
  return result;
}

}  // namespace asyncio
