#include "chat/conversation.h"

#include "util/error.h"

namespace exaone::chat {

int drop_oldest_turns(json& messages, const std::function<bool(const json&)>& fits) {
  int dropped = 0;
  while (!fits(messages)) {
    size_t first = 0;  // first message after the leading system messages
    while (first < messages.size() && messages[first].value("role", "") == "system") ++first;
    size_t next = first + 1;  // start of the following turn
    while (next < messages.size() && messages[next].value("role", "") != "user") ++next;
    if (next >= messages.size())
      fail("the last message does not fit the context even with every earlier turn dropped; shorten it or use a larger --ctx");
    messages.erase(messages.begin() + static_cast<std::ptrdiff_t>(first), messages.begin() + static_cast<std::ptrdiff_t>(next));
    ++dropped;
  }
  return dropped;
}

}  // namespace exaone::chat
