// Helpers for the end-to-end metrics tests of udmg-server: the listening port a job
// prints, HTTP calls, reading an exposition, the contract's family names
// (metrics/metric_names.txt) and the key material that must never appear in any output.
//
// Thread-safety: free functions, called from the test's thread.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "tests/e2e/cli_runner.h"
#include "tests/metrics/metrics_test_support.h"

namespace udmg::testing {

using metrics::testing::HttpGet;
using metrics::testing::HttpResponse;
using metrics::testing::PollUntil;

// Waits for the job's "metrics: listening on http://127.0.0.1:PORT/metrics" line on stderr (read
// from its capture file while it runs) and returns PORT; -1 when the job ended or never printed it.
int ListenPort(BackgroundProcess& job);
// The URL of that line, whatever its host; "" when the job ended or never printed it.
std::string ListenUrl(BackgroundProcess& job);

// POST http://127.0.0.1:PORT/PATH with an empty body and `headers` (by default the header a
// control request needs, X-Udmg-Control: 1); nullopt when the connection fails.
std::optional<HttpResponse> HttpPost(
    int port, const std::string& path,
    const std::multimap<std::string, std::string>& headers = {{"X-Udmg-Control", "1"}});

// A listening socket on 127.0.0.1 held for the test that never accepts: its port is busy, and a
// client connecting to it (through the backlog) waits for an answer until the socket is closed.
class BusyPort {
 public:
  BusyPort();
  ~BusyPort() { Close(); }
  BusyPort(const BusyPort&) = delete;
  BusyPort& operator=(const BusyPort&) = delete;
  int port() const { return port_; }
  void Close();  // a waiting client then fails at once; idempotent

 private:
  int fd_ = -1;
  int port_ = -1;
};

// Sends `request` as it is to 127.0.0.1:PORT and returns the reply's first line (e.g.
// "HTTP/1.1 400 Bad Request"); "" when the connection fails or the reply is empty.
std::string RawHttpStatusLine(int port, const std::string& request);

// The value of the sample whose name and labels are exactly `series` (as printed, e.g.
// `udmg_reencrypt_job_state{job="reencrypt",state="paused"}`); nullopt when absent.
std::optional<double> SampleValue(const std::string& exposition, const std::string& series);

// Sum of the samples of family `name` (no _bucket/_sum/_count suffix) whose label text
// contains every one of `label_parts` (e.g. `result="migrated"`).
double SumSamples(const std::string& exposition, const std::string& name,
                  const std::vector<std::string>& label_parts = {});

// The family names of the `# TYPE` lines.
std::set<std::string> FamilyNames(const std::string& exposition);

// metrics/metric_names.txt: the names whose source is one of `sources` ("job", "keystate").
std::set<std::string> ContractFamilies(const std::set<std::string>& sources);

// Everything secret in the server's database and environment: the K0 hex, every K3 token and
// wrapped root key, the root-key fingerprints, and the demo plaintexts' common prefix.
std::vector<std::string> SecretsOf(const UdmgServer& server);

// Fails the test for each of `secrets` found (case-insensitively) in `text`.
void ExpectNoSecretIn(const std::string& text, const std::vector<std::string>& secrets,
                      const std::string& where);

// UPDATE credentials SET secret = <a broken envelope> WHERE id = `id`: the value no longer
// decrypts (the re-encryption then records it and exits 5).
void CorruptDemoValue(const UdmgServer& server, int id);

}  // namespace udmg::testing
