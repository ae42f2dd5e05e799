#pragma once
// Redis Cluster's key -> hash slot mapping (the cluster specification, "Keys distribution
// model"): CRC16 (XMODEM: polynomial 0x1021, initial 0) of the key, or of its hash tag, mod 16384.
// The hash tag is what lies between the first '{' and the first '}' after it, if not empty.
#include <cstdint>
#include <string_view>

namespace puppy::cluster {

inline constexpr std::uint16_t slot_count = 16384;

std::uint16_t crc16(std::string_view bytes);
// The part of the key that is hashed: its hash tag, or the whole key.
std::string_view hashed_part(std::string_view key);
std::uint16_t key_slot(std::string_view key);

}  // namespace puppy::cluster
