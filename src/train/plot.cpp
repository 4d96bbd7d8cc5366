#include "train/plot.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <fstream>

#include "util/error.h"

namespace exaone::train {

namespace {

uint32_t crc32(const uint8_t* p, size_t n, uint32_t crc = 0) {
  static const std::array<uint32_t, 256> table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  crc = ~crc;
  for (size_t i = 0; i < n; ++i) crc = table[(crc ^ p[i]) & 0xFF] ^ (crc >> 8);
  return ~crc;
}

void put_be32(std::string& s, uint32_t v) {
  for (int k = 3; k >= 0; --k) s.push_back(static_cast<char>((v >> (8 * k)) & 0xFF));
}

void chunk(std::string& png, const char* type, const std::string& data) {
  put_be32(png, static_cast<uint32_t>(data.size()));
  std::string body(type, 4);
  body += data;
  png += body;
  put_be32(png, crc32(reinterpret_cast<const uint8_t*>(body.data()), body.size()));
}

}  // namespace

std::string encode_png(const std::vector<uint8_t>& rgb, int width, int height) {
  // Scanlines with filter byte 0, wrapped in a zlib stream of stored (uncompressed) blocks:
  // plots are small, and this keeps the encoder a few lines long.
  std::string raw;
  for (int y = 0; y < height; ++y) {
    raw.push_back(0);
    raw.append(reinterpret_cast<const char*>(rgb.data()) + static_cast<size_t>(y) * width * 3,
               static_cast<size_t>(width) * 3);
  }
  std::string z = {0x78, 0x01};
  for (size_t off = 0; off < raw.size() || off == 0; off += 65535) {
    const size_t n = std::min<size_t>(65535, raw.size() - off);
    z.push_back(off + n >= raw.size() ? 1 : 0);
    z.push_back(static_cast<char>(n & 0xFF));
    z.push_back(static_cast<char>(n >> 8));
    z.push_back(static_cast<char>(~n & 0xFF));
    z.push_back(static_cast<char>((~n >> 8) & 0xFF));
    z.append(raw, off, n);
    if (raw.empty()) break;
  }
  uint32_t a = 1, b = 0;  // adler-32
  for (unsigned char c : raw) {
    a = (a + c) % 65521;
    b = (b + a) % 65521;
  }
  put_be32(z, (b << 16) | a);
  std::string png = "\x89PNG\r\n\x1a\n";
  std::string ihdr;
  put_be32(ihdr, static_cast<uint32_t>(width));
  put_be32(ihdr, static_cast<uint32_t>(height));
  ihdr += std::string{8, 2, 0, 0, 0};  // 8-bit, RGB, deflate, no filter method, no interlace
  chunk(png, "IHDR", ihdr);
  chunk(png, "IDAT", z);
  chunk(png, "IEND", "");
  return png;
}

void write_loss_csv(const std::string& path, const std::vector<CurvePoint>& curve) {
  std::ofstream f(path);
  if (!f) fail(path + ": cannot open for writing");
  f << "step,loss,lr,grad_norm,tokens_per_s\n";
  char line[160];
  for (const CurvePoint& p : curve) {
    std::snprintf(line, sizeof line, "%lld,%.17g,%.9g,%.9g,%.1f\n", static_cast<long long>(p.step), p.loss, p.lr,
                  p.grad_norm, p.tokens_per_s);
    f << line;
  }
  if (!f) fail(path + ": write failed");
}

void write_loss_png(const std::string& path, const std::vector<CurvePoint>& curve, int width, int height) {
  std::vector<uint8_t> img(static_cast<size_t>(width) * height * 3, 255);
  auto px = [&](int x, int y, uint8_t r, uint8_t g, uint8_t b) {
    if (x < 0 || y < 0 || x >= width || y >= height) return;
    uint8_t* p = &img[(static_cast<size_t>(y) * width + x) * 3];
    p[0] = r, p[1] = g, p[2] = b;
  };
  auto line = [&](int x0, int y0, int x1, int y1, uint8_t r, uint8_t g, uint8_t b) {
    const int n = std::max(std::abs(x1 - x0), std::abs(y1 - y0));
    for (int i = 0; i <= n; ++i) {
      const double t = n ? static_cast<double>(i) / n : 0;
      const int x = static_cast<int>(std::lround(x0 + t * (x1 - x0))), y = static_cast<int>(std::lround(y0 + t * (y1 - y0)));
      px(x, y, r, g, b);
      px(x, y + 1, r, g, b);  // 2 px thick
    }
  };
  const int left = 50, right = width - 20, top = 20, bottom = height - 40;
  line(left, bottom, right, bottom, 0, 0, 0);  // axes
  line(left, top, left, bottom, 0, 0, 0);
  for (int k = 1; k <= 4; ++k) {  // light grid at quarters
    const int y = top + (bottom - top) * k / 4 - (k == 4 ? 1 : 0);
    for (int x = left + 1; x < right; x += 4) px(x, y, 200, 200, 200);
  }
  if (!curve.empty()) {
    double lo = curve[0].loss, hi = curve[0].loss;
    for (const CurvePoint& p : curve) lo = std::min(lo, p.loss), hi = std::max(hi, p.loss);
    if (hi - lo < 1e-9) hi = lo + 1;
    const double s0 = static_cast<double>(curve.front().step), s1 = std::max(s0 + 1, static_cast<double>(curve.back().step));
    auto X = [&](double s) { return left + static_cast<int>(std::lround((s - s0) / (s1 - s0) * (right - left))); };
    auto Y = [&](double l) { return bottom - static_cast<int>(std::lround((l - lo) / (hi - lo) * (bottom - top))); };
    for (size_t i = 1; i < curve.size(); ++i)
      line(X(static_cast<double>(curve[i - 1].step)), Y(curve[i - 1].loss), X(static_cast<double>(curve[i].step)),
           Y(curve[i].loss), 31, 119, 180);
    if (curve.size() == 1) px(X(s0), Y(curve[0].loss), 31, 119, 180);
  }
  const std::string png = encode_png(img, width, height);
  std::ofstream f(path, std::ios::binary);
  if (!f) fail(path + ": cannot open for writing");
  f.write(png.data(), static_cast<std::streamsize>(png.size()));
  if (!f) fail(path + ": write failed");
}

}  // namespace exaone::train
