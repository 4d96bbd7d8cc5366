// The loss curve of a run as CSV and as a PNG line plot (written here: no image library).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace exaone::train {

struct CurvePoint {
  int64_t step = 0;
  double loss = 0, lr = 0, grad_norm = 0, tokens_per_s = 0;
};

// step,loss,lr,grad_norm,tokens_per_s with a header line; losses with 17 significant digits (exact doubles).
void write_loss_csv(const std::string& path, const std::vector<CurvePoint>& curve);
// A width x height RGB PNG: loss against step (scaled to the min..max of the run), axes and a quarter grid.
void write_loss_png(const std::string& path, const std::vector<CurvePoint>& curve, int width = 800, int height = 450);
// The PNG encoder itself (8-bit RGB, stored deflate blocks), rgb = width*height*3 bytes.
std::string encode_png(const std::vector<uint8_t>& rgb, int width, int height);

}  // namespace exaone::train
