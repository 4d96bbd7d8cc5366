#include "loaders/safetensors.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>

#include "util/error.h"
#include "util/json_file.h"
#include "util/paths.h"

namespace exaone {

namespace {

bool parse_dtype(const std::string& s, DType& out) {
  if (s == "F32") out = DType::F32;
  else if (s == "F16") out = DType::F16;
  else if (s == "BF16") out = DType::BF16;
  else return false;
  return true;
}

// Size limits that reject absurd headers before allocating anything.
constexpr uint64_t kMaxHeaderBytes = 256ull << 20;
constexpr size_t kMaxDims = 8;

}  // namespace

std::vector<TensorView> parse_safetensors(const uint8_t* data, size_t size, const std::string& path) {
  if (size < 8) fail(path + ": truncated safetensors file (" + std::to_string(size) + " bytes, no header length)");
  uint64_t header_len = 0;
  std::memcpy(&header_len, data, 8);  // little-endian on every platform we build for
  if (header_len > kMaxHeaderBytes || header_len > size - 8)
    fail(path + ": header length " + std::to_string(header_len) + " exceeds the file size " + std::to_string(size));
  const char* hbegin = reinterpret_cast<const char*>(data + 8);
  // Plain (unordered) JSON: ordered_json's insertion is quadratic in the number of tensors.
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(hbegin, hbegin + header_len);
  } catch (const nlohmann::json::parse_error& e) {
    fail(path + ": invalid JSON header at byte " + std::to_string(e.byte + 8) + ": " + e.what());
  } catch (const nlohmann::json::exception& e) {  // e.g. a number too large for a double
    fail(path + ": invalid JSON header: " + e.what());
  }
  if (!header.is_object()) fail(path + ": header is not a JSON object");
  const uint64_t data_start = 8 + header_len;
  const uint64_t data_size = size - data_start;

  std::vector<TensorView> out;
  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& name = it.key();
    if (name == "__metadata__") continue;
    const nlohmann::json& e = it.value();
    const std::string where = path + ": tensor '" + name + "'";
    if (!e.is_object()) fail(where + ": entry is not an object");
    TensorView t;
    t.name = name;
    t.file = path;
    auto dt = e.find("dtype");
    if (dt == e.end() || !dt->is_string()) fail(where + ": missing field 'dtype'");
    if (!parse_dtype(dt->get<std::string>(), t.dtype))
      fail(where + ": unsupported dtype '" + dt->get<std::string>() + "' (supported: F32, F16, BF16)");
    auto sh = e.find("shape");
    if (sh == e.end() || !sh->is_array() || sh->size() > kMaxDims) fail(where + ": missing or invalid field 'shape'");
    unsigned __int128 numel = 1;
    for (const auto& d : *sh) {
      if (!d.is_number_unsigned() && !(d.is_number_integer() && d.get<int64_t>() >= 0))
        fail(where + ": field 'shape' holds a non-integer or negative dimension");
      t.shape.push_back(d.get<int64_t>());
      numel *= static_cast<uint64_t>(t.shape.back());
      if (numel > (static_cast<unsigned __int128>(1) << 62)) fail(where + ": shape is too large");
    }
    auto off = e.find("data_offsets");
    if (off == e.end() || !off->is_array() || off->size() != 2 || !(*off)[0].is_number_unsigned() ||
        !(*off)[1].is_number_unsigned())
      fail(where + ": missing or invalid field 'data_offsets'");
    const uint64_t b = (*off)[0].get<uint64_t>(), en = (*off)[1].get<uint64_t>();
    if (b > en || en > data_size)
      fail(where + ": data_offsets [" + std::to_string(b) + ", " + std::to_string(en) + "] out of range (data is " +
           std::to_string(data_size) + " bytes)");
    const unsigned __int128 need = numel * static_cast<uint64_t>(dtype_block_bytes(t.dtype));
    if (need != en - b)
      fail(where + ": " + std::to_string(en - b) + " bytes stored but shape " + t.shape_str() + " of " +
           dtype_name(t.dtype) + " needs " + std::to_string(static_cast<uint64_t>(need)));
    t.data = data + data_start + b;
    t.nbytes = en - b;
    out.push_back(std::move(t));
  }
  // Overlapping ranges would mean two tensors share bytes: reject (empty tensors excepted).
  std::vector<std::pair<uint64_t, uint64_t>> ranges;
  for (const auto& t : out)
    if (t.nbytes) ranges.emplace_back(t.data - data, t.data - data + t.nbytes);
  std::sort(ranges.begin(), ranges.end());
  for (size_t i = 1; i < ranges.size(); ++i)
    if (ranges[i].first < ranges[i - 1].second)
      fail(path + ": tensor data ranges overlap at byte " + std::to_string(ranges[i].first));
  return out;
}

static void load_one_file(const std::string& file, WeightStore& store, const std::set<std::string>* expected) {
  const MappedFile& m = store.add_file(MappedFile(file));
  for (auto& t : parse_safetensors(m.data(), m.size(), file)) {
    if (expected && !expected->count(t.name)) continue;  // not claimed by the index: ignore
    store.add(std::move(t));
  }
}

void load_safetensors_checkpoint(const std::string& path, WeightStore& store) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::is_regular_file(path, ec)) {
    load_one_file(path, store, nullptr);
    return;
  }
  if (!fs::is_directory(path, ec)) fail(path + ": no such file or folder");
  const std::string index = path_join(path, "model.safetensors.index.json");
  if (file_exists(index)) {
    json j = read_json_file(index);
    auto wm = j.find("weight_map");
    if (!j.is_object() || wm == j.end() || !wm->is_object()) fail(index + ": missing field 'weight_map'");
    std::map<std::string, std::set<std::string>> by_file;
    for (auto it = wm->begin(); it != wm->end(); ++it) {
      if (!it.value().is_string()) fail(index + ": weight_map['" + it.key() + "']: expected a file name");
      const std::string shard = it.value().get<std::string>();
      if (shard.find('/') != std::string::npos || shard == ".." )
        fail(index + ": weight_map['" + it.key() + "']: shard name '" + shard + "' must be a file in the folder");
      by_file[shard].insert(it.key());
    }
    for (const auto& [shard, names] : by_file) {
      const std::string file = path_join(path, shard);
      if (!file_exists(file)) fail(index + ": shard '" + shard + "' listed in weight_map does not exist");
      load_one_file(file, store, &names);
      for (const auto& n : names)
        if (!store.find(n)) fail(file + ": tensor '" + n + "' listed in " + "model.safetensors.index.json is missing");
    }
    return;
  }
  const std::string single = path_join(path, "model.safetensors");
  if (file_exists(single)) {
    load_one_file(single, store, nullptr);
    return;
  }
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(path, ec))
    if (e.path().extension() == ".safetensors") files.push_back(e.path().string());
  if (files.empty()) fail(path + ": no .safetensors files (and no model.safetensors.index.json)");
  std::sort(files.begin(), files.end());
  for (const auto& f : files) load_one_file(f, store, nullptr);
}

void write_safetensors_f32(const std::string& path, const std::vector<SafetensorsF32>& tensors) {
  auto numel = [](const std::vector<int64_t>& shape) {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
  };
  json header = json::object();
  uint64_t offset = 0;
  for (const SafetensorsF32& t : tensors) {
    const uint64_t bytes = static_cast<uint64_t>(numel(t.shape)) * 4;
    header[t.name] = {{"dtype", "F32"}, {"shape", t.shape}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  header["__metadata__"] = {{"format", "pt"}};
  std::string h = header.dump();
  h.append((8 - h.size() % 8) % 8, ' ');  // data starts 8-byte aligned
  const std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f) fail(tmp + ": cannot open for writing");
    const uint64_t len = h.size();
    f.write(reinterpret_cast<const char*>(&len), 8);  // little-endian hosts only (x86-64, aarch64)
    f.write(h.data(), static_cast<std::streamsize>(h.size()));
    for (const SafetensorsF32& t : tensors)
      f.write(reinterpret_cast<const char*>(t.data), static_cast<std::streamsize>(numel(t.shape) * 4));
    if (!f) fail(tmp + ": write failed");
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) fail(path + ": cannot rename " + tmp + " into place: " + ec.message());
}

}  // namespace exaone
