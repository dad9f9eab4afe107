// asyncio::getaddrinfo: getaddrinfo(3) on the default executor, numeric hosts answered inline.
#include "asyncio/getaddrinfo.hpp"

#include <netdb.h>

#include <cerrno>
#include <memory>

#include "asyncio/threads.hpp"

namespace asyncio {

namespace {

class GaiCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "getaddrinfo"; }
  std::string message(int code) const override { return ::gai_strerror(code); }
};

struct Query {
  std::string host;
  std::string port;
  addrinfo hints{};
};

/// getaddrinfo's failure: its EAI_* code (0 for success), and errno for EAI_SYSTEM.
struct Failure {
  int code = 0;
  int system_error = 0;
};

/// Runs getaddrinfo(3): the answers, or why there are none in `failure`.
std::vector<AddressInfo> resolve(const Query& query, Failure& failure) {
  addrinfo* list = nullptr;
  failure.code = ::getaddrinfo(query.host.empty() ? nullptr : query.host.c_str(),
                               query.port.c_str(), &query.hints, &list);
  failure.system_error = failure.code == EAI_SYSTEM ? errno : 0;
  std::vector<AddressInfo> answers;
  if (failure.code != 0) return answers;
  std::unique_ptr<addrinfo, void (*)(addrinfo*)> owner(list, ::freeaddrinfo);
  for (const addrinfo* ai = list; ai; ai = ai->ai_next) {
    answers.push_back({ai->ai_family, ai->ai_socktype, ai->ai_protocol,
                       ai->ai_canonname ? ai->ai_canonname : "",
                       SocketAddress(ai->ai_addr, ai->ai_addrlen)});
  }
  return answers;
}

[[noreturn]] void throw_failure(const Failure& failure, const std::string& host,
                                const char* call = "getaddrinfo") {
  const std::string what = std::string(call) + "(\"" + host + "\")";
  if (failure.code == EAI_SYSTEM)
    throw std::system_error(failure.system_error, std::generic_category(), what);
  throw std::system_error(failure.code, gai_category(), what);
}

std::vector<AddressInfo> resolve_or_throw(const Query& query) {
  Failure failure;
  std::vector<AddressInfo> answers = resolve(query, failure);
  if (failure.code != 0) throw_failure(failure, query.host);
  return answers;
}

/// Runs getnameinfo(3): (host, service), or throws as getaddrinfo does.
std::pair<std::string, std::string> name_of(const SocketAddress& address, int flags) {
  char host[NI_MAXHOST], service[NI_MAXSERV];
  const int code = ::getnameinfo(address.data(), address.size(), host, sizeof host, service,
                                 sizeof service, flags);
  if (code != 0) {
    Failure failure{code, code == EAI_SYSTEM ? errno : 0};
    throw_failure(failure, address.to_string(), "getnameinfo");
  }
  return {host, service};
}

}  // namespace

Coro<std::pair<std::string, std::string>> getnameinfo(SocketAddress address, int flags) {
  // Numeric answers need no name service: given here, without a thread.
  if ((flags & NI_NUMERICHOST) && (flags & NI_NUMERICSERV)) co_return name_of(address, flags);
  auto answered = get_running_loop().run_in_executor(
      nullptr, [address = std::move(address), flags] { return name_of(address, flags); });
  co_return co_await answered;
}

const std::error_category& gai_category() noexcept {
  static const GaiCategory category;
  return category;
}

Coro<std::vector<AddressInfo>> getaddrinfo(std::string host, std::uint16_t port, int family,
                                           int type, int protocol, int flags) {
  Query query{std::move(host), std::to_string(port), {}};
  query.hints.ai_family = family;
  query.hints.ai_socktype = type;
  query.hints.ai_protocol = protocol;
  query.hints.ai_flags = flags | AI_NUMERICSERV;
  // A numeric host (or none) needs no name service: answer it here, as Python's _ipaddr_info.
  Query numeric = query;
  numeric.hints.ai_flags |= AI_NUMERICHOST;
  Failure failure;
  std::vector<AddressInfo> answers = resolve(numeric, failure);
  if (failure.code == 0) co_return answers;
  if (failure.code != EAI_NONAME || (query.hints.ai_flags & AI_NUMERICHOST))
    throw_failure(failure, query.host);
  // Not one full-expression with the co_await: g++ 12 mishandles a capturing lambda there.
  auto answered = get_running_loop().run_in_executor(
      nullptr, [query = std::move(query)] { return resolve_or_throw(query); });
  co_return co_await answered;
}

}  // namespace asyncio
