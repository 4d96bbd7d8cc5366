// Keeping a conversation within the context: the oldest turns go first, the system prompt stays.
#pragma once
#include <functional>

#include "util/json_file.h"

namespace exaone::chat {

// Drops the oldest turns of `messages` (OpenAI shape) until `fits(messages)` is true. A turn is a
// user message with everything that follows it up to the next user message (the answer, tool
// calls and results); system messages at the start are kept, and so is the last turn. Returns how
// many turns were dropped; throws Error when the system messages and the last turn alone do not fit.
int drop_oldest_turns(json& messages, const std::function<bool(const json&)>& fits);

}  // namespace exaone::chat
