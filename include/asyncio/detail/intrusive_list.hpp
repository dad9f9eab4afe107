// A doubly linked intrusive list: objects derive from ListHook and link themselves in, so
// adding and removing allocate nothing and an object can unlink itself without knowing its
// list.
#pragma once

namespace asyncio::detail {

/// The links an object of an IntrusiveList carries. Unlinked: both null.
struct ListHook {
  ListHook* prev = nullptr;
  ListHook* next = nullptr;

  ListHook() noexcept = default;
  ListHook(const ListHook&) = delete;
  ListHook& operator=(const ListHook&) = delete;

  bool linked() const noexcept { return prev != nullptr; }
  /// Takes the object out of whatever list holds it; nothing when it is in none.
  void unlink() noexcept {
    if (!prev) return;
    prev->next = next;
    next->prev = prev;
    prev = next = nullptr;
  }
};

/// A circular list around a sentinel; it neither owns nor destroys its objects.
class IntrusiveList {
 public:
  IntrusiveList() noexcept { head_.prev = head_.next = &head_; }
  IntrusiveList(const IntrusiveList&) = delete;
  IntrusiveList& operator=(const IntrusiveList&) = delete;
  /// Unlinks whatever is still in it, so that no object points at a dead list.
  ~IntrusiveList() { clear(); }

  bool empty() const noexcept { return head_.next == &head_; }
  /// The first object, or null.
  ListHook* front() noexcept { return empty() ? nullptr : head_.next; }

  /// Links `hook`, which must not be in a list, at the back.
  void push_back(ListHook* hook) noexcept {
    hook->prev = head_.prev;
    hook->next = &head_;
    head_.prev->next = hook;
    head_.prev = hook;
  }

  /// Calls f(hook) for each object, front to back; f may unlink the object it is given.
  template <class F>
  void for_each(F&& f) {
    for (ListHook* hook = head_.next; hook != &head_;) {
      ListHook* next = hook->next;
      f(hook);
      hook = next;
    }
  }

  /// Unlinks every object.
  void clear() noexcept {
    while (ListHook* hook = front()) hook->unlink();
  }

 private:
  ListHook head_;  // sentinel: linked to itself when empty
};

}  // namespace asyncio::detail
