// node_exporter textfile collector output: the exposition written so that a reader (the
// collector, a cron job's `cat`) sees the old file or the new one, never a partial one.
//
// Thread-safety: concurrent calls for the same path are safe (each uses its own temp file); the
// last rename wins.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "metrics/metric_family.h"

namespace udmg::metrics {

// Serializes `families` (TextSerializer) and writes it to `path` atomically: a new temp file in
// the same directory (O_EXCL, named ".<name>.tmp-<pid>-<n>" so node_exporter, which reads only
// *.prom, ignores it), fsync, mode 0644, rename over `path`, fsync of the directory. On failure
// the temp file is removed and `path` is left as it was: kBadInput when the directory cannot be
// written (missing, permissions), kInternal when a write/fsync/rename fails; one line with the
// path and the reason.
Status WriteTextfile(const std::string& path, const std::vector<MetricFamily>& families);

// The same for an exposition already serialized.
Status WriteTextfileContent(const std::string& path, std::string_view content);

}  // namespace udmg::metrics
