#include "catalog_parts.hpp"

namespace framepipe {

const std::vector<StageSpec>& stage_catalog() {
    static const std::vector<StageSpec> catalog = [] {
        std::vector<StageSpec> all;
        stages::add_filters(all);
        stages::add_thumbnail_stages(all);
        stages::add_writers(all);
        stages::add_recording(all);
        stages::add_motion(all);
        stages::add_live_view(all);
        return all;
    }();
    return catalog;
}

}  // namespace framepipe
