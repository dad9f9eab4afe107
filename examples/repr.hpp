// Shared by the echo examples: repr(text), Python's repr() of a str, so that they print
// messages the way Python's echo examples do: 'Hello World!', with \n and other control
// characters escaped.
#pragma once

#include <cstdio>
#include <string>
#include <string_view>

inline std::string repr(std::string_view text) {
  std::string out = "'";
  for (const char c : text) {
    switch (c) {
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\'':
        out += "\\'";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
          char escaped[5];
          std::snprintf(escaped, sizeof escaped, "\\x%02x", static_cast<unsigned char>(c));
          out += escaped;
        } else {
          out += c;
        }
    }
  }
  return out + "'";
}
