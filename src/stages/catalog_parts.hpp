#pragma once
// Each family of stages adds its types to the catalogue (src/stages/catalog.cpp puts them together).

#include <framepipe/registry.hpp>

#include <vector>

namespace framepipe::stages {

void add_filters(std::vector<StageSpec>& catalog);
void add_thumbnail_stages(std::vector<StageSpec>& catalog);
void add_writers(std::vector<StageSpec>& catalog);
void add_recording(std::vector<StageSpec>& catalog);
void add_motion(std::vector<StageSpec>& catalog);
void add_live_view(std::vector<StageSpec>& catalog);

}  // namespace framepipe::stages
