// What to do with findings: mask keeping the format ("900101-1******"), or replace each value
// with a keyed HMAC-SHA256 pseudonym ("[rrn:3f9a1c0b2d4e7a91]"; same value and key -> same token).
#pragma once
#include <string>
#include <string_view>
#include <vector>

#include "comply/detect.h"

namespace exaone::comply {

enum class Action { Report, Mask, Pseudonymize, Drop };

Action parse_action(const std::string& name);  // Error on unknown names
const char* action_name(Action a);

// Format-keeping mask of one detected value (original bytes, any Unicode digits).
std::string mask_value(std::string_view type, std::string_view value);

// Canonical form a pseudonym is computed from: separators and full-width forms removed, so
// "010-1234-5678" and "０１０１２３４５６７８" map to the same token.
std::string canonical_value(std::string_view type, std::string_view value);
std::string pseudonym(std::string_view key, std::string_view type, std::string_view value);

// Rewrites `text`, replacing each finding (sorted, non-overlapping) by its mask or pseudonym.
// Action::Report returns the text unchanged.
std::string apply_action(std::string_view text, const std::vector<Finding>& findings, Action action,
                         std::string_view key);

}  // namespace exaone::comply
