// The audit trail end to end on every backend (docs/security.md, "Audit trail"): every keyring
// change appends a sealed entry; `audit verify` finds an edited field, a removed, moved or
// renumbered entry, and a truncated end, each as exit 15 naming the first broken entry.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "tests/e2e/cli_runner.h"
#include "tests/e2e/e2e_helpers.h"

namespace udmg::testing {
namespace {

using nlohmann::json;

std::string Trimmed(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text;
}

// init, rotate-master-key, rotate-k0, rotate-master-key: four entries, the first three sealed by
// root version 1 (rotate-k0's by the version it retired), the last by version 2. No demo table:
// registering its column would be an entry of its own (the test of column changes makes one).
class AuditTest : public ServerTest {
 protected:
  void SetUp() override {
    server_.set_env("UDMG_NODE_ID", "gw-audit");
    ASSERT_TRUE(InitDemo(server_, 0));
    old_key_ = server_.root_key();
    RunOk(server_, {"rotate-master-key"});
    new_key_ = RandomKeyHex();
    RunOk(server_, {"rotate-k0", "--new-key", new_key_});
    server_.set_root_key(new_key_);
    RunOk(server_, {"rotate-master-key"});
  }

  json Entries() {
    ProcessResult listed = RunOk(server_, {"audit", "list", "--json"});
    return json::parse(listed.stdout_data)["entries"];
  }

  std::string Head() {
    const std::string out = RunOk(server_, {"audit", "verify"}).stdout_data;
    const size_t at = out.find("\nhead ");
    EXPECT_NE(at, std::string::npos) << out;
    return Trimmed(out.substr(at + 6));
  }

  // `audit verify` (with `extra`) fails with exit 15 and one line that contains `why`; nothing
  // on stdout.
  void ExpectBroken(const std::string& why, std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"audit", "verify"};
    args.insert(args.end(), extra.begin(), extra.end());
    ProcessResult result = server_.Run(args);
    EXPECT_EQ(result.exit_code, kExitAuditBroken) << result.Describe();
    ASSERT_EQ(result.StderrLines().size(), 1u) << result.Describe();
    EXPECT_TRUE(Contains(result.StderrLines()[0], why)) << result.Describe();
    EXPECT_TRUE(result.stdout_data.empty()) << result.Describe();
  }

  std::string old_key_;
  std::string new_key_;
};

TEST_P(AuditTest, EveryKeyringChangeIsListedAndVerifies) {
  json entries = Entries();
  ASSERT_EQ(entries.size(), 4u) << entries.dump();
  const std::vector<std::string> commands = {"init", "rotate-master-key", "rotate-k0",
                                             "rotate-master-key"};
  const std::vector<std::vector<int>> versions = {
      {0, 1, 0, 1}, {1, 1, 1, 2}, {1, 2, 2, 2}, {2, 2, 2, 3}};  // root and master, before/after
  for (size_t i = 0; i < entries.size(); ++i) {
    const json& entry = entries[i];
    EXPECT_EQ(entry["seq"], i + 1);
    EXPECT_EQ(entry["command"], "udmg-server " + commands[i]);
    EXPECT_EQ(entry["event"], "keyring");
    EXPECT_EQ(entry["outcome"], "ok");
    EXPECT_EQ(entry["node"], "gw-audit");
    EXPECT_FALSE(entry["os_user"].get<std::string>().empty());
    EXPECT_GT(entry["pid"], 0);
    EXPECT_EQ((std::vector<int>{entry["root_before"], entry["root_after"], entry["master_before"],
                                entry["master_after"]}),
              versions[i])
        << entry.dump();
    EXPECT_EQ(entry["key_version"], i < 3 ? 1 : 2) << entry.dump();
    EXPECT_EQ(entry["k0_fingerprint"], FingerprintOf(i < 3 ? old_key_ : new_key_));
  }
  ProcessResult verified = RunOk(server_, {"audit", "verify"});
  EXPECT_EQ(verified.stdout_data.rfind("audit trail verified: 4 entries\nhead 4:", 0), 0u)
      << verified.stdout_data;
  const std::string shown = RunOk(server_, {"audit", "list"}).stdout_data + verified.stdout_data;
  for (const std::string& key : {old_key_, new_key_}) EXPECT_FALSE(Contains(shown, key)) << shown;

  // A refused change rolls back and records itself in a transaction of its own: the old root
  // key rotates nothing, and cannot seal its refusal (verifying needs the current K0: refused too).
  server_.set_root_key(old_key_);
  const std::string before = server_.Dump();  // leaves refusals out
  ExpectOneErrorLine(server_.Run({"rotate-master-key"}), kExitWrongKey, {"root key version 1"});
  EXPECT_EQ(server_.Dump(), before);
  ExpectOneErrorLine(server_.Run({"audit", "verify"}), kExitWrongKey, {"root key version 1"});
  const std::string unknown_key = RandomKeyHex();  // a key this database never had
  server_.set_root_key(unknown_key);
  ExpectOneErrorLine(server_.Run({"rotate-master-key"}), kExitWrongKey, {"unknown root key"});
  EXPECT_EQ(server_.Dump(), before);
  server_.set_root_key(new_key_);
  json after = Entries();
  ASSERT_EQ(after.size(), 7u) << after.dump();
  EXPECT_EQ(after[6]["event"], "root-key");
  EXPECT_EQ(after[6]["outcome"].get<std::string>().rfind(
                "refused: this node's UDMG_SECURITY_PASSPHRASE_KEY is an unknown root key", 0),
            0u);
  EXPECT_EQ(after[6]["k0_fingerprint"], FingerprintOf(unknown_key));
  EXPECT_EQ(after[6]["key_version"], 0);
  for (size_t i : {4u, 5u}) {
    const json& refusal = after[i];
    SCOPED_TRACE(refusal.dump());
    EXPECT_EQ(refusal["command"],
              i == 4 ? "udmg-server rotate-master-key" : "udmg-server audit verify");
    EXPECT_EQ(refusal["event"], "root-key");
    EXPECT_EQ(refusal["outcome"].get<std::string>().rfind(
                  "refused: this node's UDMG_SECURITY_PASSPHRASE_KEY is root key version 1", 0),
              0u);
    EXPECT_EQ((std::vector<int>{refusal["root_before"], refusal["root_after"],
                                refusal["master_before"], refusal["master_after"]}),
              (std::vector<int>{2, 2, 3, 3}));
    EXPECT_EQ(refusal["key_version"], 0);
    EXPECT_EQ(refusal["k0_fingerprint"], FingerprintOf(old_key_));
    EXPECT_FALSE(Contains(refusal.dump(), old_key_));
  }
  // Counted, not vouched for, until a sealed entry covers them.
  EXPECT_TRUE(Contains(RunOk(server_, {"audit", "verify"}).stdout_data,
                       "audit trail verified: 7 entries, the last 3 of them not yet sealed"));
  RunOk(server_, {"rotate-master-key"});
  EXPECT_EQ(RunOk(server_, {"audit", "verify"})
                .stdout_data.rfind("audit trail verified: 8 entries\nhead 8:", 0),
            0u);
}

// Changes that leave the keyring as it is are entries too, with the keyring's versions unchanged:
// a column registered (here by the demo), bound, unbound, unregistered, and a backup taken.
TEST_P(AuditTest, ColumnChangesAndBackupsAreListedAndVerify) {
  RunOk(server_, {"demo", "--rows", "1"});
  RunOk(server_, {"columns", "bind", "credentials.secret"});
  RunOk(server_, {"columns", "unbind", "credentials.secret"});
  RunOk(server_, {"columns", "remove", "credentials.secret"});
  RunOk(server_, {"columns", "add", "credentials.secret"});
  const std::filesystem::path passphrase = dir_.path() / "passphrase";
  ASSERT_TRUE(WriteFile(passphrase, "a long enough backup passphrase\n"));
  RunOk(server_, {"passphrase-backup", "--output", (dir_.path() / "keys.udmgbackup").string(),
                  "--passphrase-file", passphrase.string()});

  // A mistake leaves no entry (an unregistered column); a refusal records itself (an older root
  // key: entry 11, after the six below).
  EXPECT_EQ(server_.Run({"columns", "bind", "credentials.name"}).exit_code, kExitNotFound);
  server_.set_root_key(old_key_);
  EXPECT_EQ(server_.Run({"columns", "remove", "credentials.secret"}).exit_code, kExitWrongKey);
  server_.set_root_key(new_key_);

  // command, event
  const std::vector<std::vector<std::string>> expected = {{"demo", "column-add"},
                                                          {"columns bind", "column-bind"},
                                                          {"columns unbind", "column-unbind"},
                                                          {"columns remove", "column-remove"},
                                                          {"columns add", "column-add"},
                                                          {"passphrase-backup", "backup"}};
  json entries = Entries();
  ASSERT_EQ(entries.size(), 4 + expected.size() + 1) << entries.dump();
  EXPECT_EQ(entries.back()["command"], "udmg-server columns remove");
  EXPECT_EQ(entries.back()["event"], "root-key");
  for (size_t i = 0; i < expected.size(); ++i) {
    const json& entry = entries[4 + i];
    SCOPED_TRACE(entry.dump());
    EXPECT_EQ(entry["command"], "udmg-server " + expected[i][0]);
    EXPECT_EQ(entry["event"], expected[i][1]);
    EXPECT_EQ(entry["outcome"], "ok");
    EXPECT_EQ((std::vector<int>{entry["root_before"], entry["root_after"], entry["master_before"],
                                entry["master_after"]}),
              (std::vector<int>{2, 2, 3, 3}));
    EXPECT_EQ(entry["key_version"], 2);
    EXPECT_EQ(entry["k0_fingerprint"], FingerprintOf(new_key_));
    if (expected[i][1] != "backup") {
      EXPECT_EQ(entry["detail"], "credentials.secret");
    }
  }
  // The backup by when it was taken, its root key's version and fingerprint, never the key.
  const std::string backup = entries[9]["detail"];
  EXPECT_EQ(backup.rfind("taken ", 0), 0u) << backup;
  EXPECT_TRUE(Contains(
      backup, "root version 2 (fingerprint " + FingerprintOf(new_key_) + "), keyring revision "))
      << backup;
  EXPECT_FALSE(Contains(backup, new_key_));
  EXPECT_TRUE(Contains(RunOk(server_, {"audit", "verify"}).stdout_data,
                       "audit trail verified: 11 entries, the last 1 of them not yet sealed"));

  for (int seq : {5, 8, 10}) {
    SCOPED_TRACE(seq);
    const std::string where = " WHERE seq = " + std::to_string(seq) + ";";
    const std::string original = Trimmed(server_.Exec("SELECT detail FROM udmg_audit" + where));
    server_.Exec("UPDATE udmg_audit SET detail = 'credentials.name'" + where);
    ExpectBroken("entry " + std::to_string(seq) + " does not verify");
    server_.Exec("UPDATE udmg_audit SET detail = '" + original + "'" + where);
  }
  RunOk(server_, {"audit", "verify"});
}

// A job records its start, stop, resumption and end; a job released without a key records its
// stop unsealed; refusals by a running job (prune, restore) record themselves, sealed, with the
// database otherwise unchanged.
TEST_P(AuditTest, JobsAndTheRefusalsTheyCauseAreRecorded) {
  RunOk(server_, {"demo", "--rows", "20"});  // 5
  RunOk(server_, {"rotate-master-key"});     // 6: master 4
  const std::filesystem::path stop = dir_.path() / "stop";
  ASSERT_TRUE(WriteFile(stop, ""));
  EXPECT_EQ(server_.Run({"reencrypt", "--no-progress", "--stop-file", stop.string()}).exit_code,
            kExitIncomplete);  // 7, 8: started, stopped at once
  std::filesystem::remove(stop);
  RunOk(server_, {"reencrypt", "--no-progress"});  // 9, 10: resumed, ended
  const std::filesystem::path passphrase = dir_.path() / "passphrase";
  const std::string backup = (dir_.path() / "keys.udmgbackup").string();
  ASSERT_TRUE(WriteFile(passphrase, "a long enough backup passphrase\n"));
  RunOk(server_,
        {"passphrase-backup", "--output", backup, "--passphrase-file", passphrase.string()});  // 11
  server_.Exec("UPDATE udmg_jobs SET state = 'running';");  // what kill -9 leaves behind

  const std::string before = server_.Dump();
  ExpectOneErrorLine(server_.Run({"prune-keys"}), kExitConflict, {"is running"});  // 12
  ExpectOneErrorLine(server_.Run({"passphrase-restore", "--input", backup, "--passphrase-file",
                                  passphrase.string(), "--force"}),
                     kExitConflict, {"is running"});  // 13
  EXPECT_EQ(server_.Dump(), before);
  const std::string key = server_.root_key();
  server_.clear_root_key();
  RunOk(server_, {"reencrypt", "--mark-stopped"});  // 14: no key, unsealed
  server_.set_root_key(key);

  json entries = Entries();
  ASSERT_EQ(entries.size(), 14u) << entries.dump();
  const std::string job = "job 1 (reencrypt) to master version 4";
  // command, event, outcome, detail
  const std::vector<std::vector<std::string>> expected = {
      {"reencrypt", "job-start", "ok", job},
      {"reencrypt", "job-stop", "ok", job},
      {"reencrypt", "job-start", "ok", job + ", resumed"},
      {"reencrypt", "job-end", "ok", job},
      {"passphrase-backup", "backup", "ok", ""},
      {"prune-keys", "conflict", "refused: job 1 (reencrypt) is running", ""},
      {"passphrase-restore", "conflict", "refused: job 1 (reencrypt) is running", ""},
      {"reencrypt", "job-stop", "unsealed: ok; made without a root key", job}};
  for (size_t i = 0; i < expected.size(); ++i) {
    const json& entry = entries[6 + i];
    SCOPED_TRACE(entry.dump());
    EXPECT_EQ(entry["command"], "udmg-server " + expected[i][0]);
    EXPECT_EQ(entry["event"], expected[i][1]);
    EXPECT_EQ(entry["outcome"].get<std::string>().rfind(expected[i][2], 0), 0u);
    if (expected[i][1] != "backup") {
      EXPECT_EQ(entry["detail"], expected[i][3]);
    }
    EXPECT_EQ((std::vector<int>{entry["root_before"], entry["root_after"], entry["master_before"],
                                entry["master_after"]}),
              (std::vector<int>{2, 2, 4, 4}));
    EXPECT_EQ(entry["key_version"], i + 1 < expected.size() ? 2 : 0);
    EXPECT_EQ(entry["k0_fingerprint"], i + 1 < expected.size() ? FingerprintOf(new_key_) : "");
  }
  EXPECT_TRUE(Contains(RunOk(server_, {"audit", "verify"}).stdout_data,
                       "audit trail verified: 14 entries, the last 1 of them not yet sealed"));
  RunOk(server_, {"reencrypt", "--no-progress"});  // 15, 16: resumed, ended; seals the one before
  EXPECT_TRUE(Contains(RunOk(server_, {"audit", "verify"}).stdout_data,
                       "audit trail verified: 16 entries\nhead 16:"));

  // An unsealed stop is as tamper-evident as any entry once covered.
  server_.Exec("UPDATE udmg_audit SET node = 'elsewhere' WHERE seq = 14;");
  ExpectBroken("entry 14 does not verify");
}

// Each column of an entry is covered by its seal: an edit of any one is caught at that entry.
TEST_P(AuditTest, AnEditOfAnyColumnIsCaughtAtThatEntry) {
  const std::string other_mac = Trimmed(server_.Exec("SELECT mac FROM udmg_audit WHERE seq = 3;"));
  const std::vector<std::pair<std::string, std::string>> edits = {
      {"at", "at + 1"},
      {"node", "'gw-other'"},
      {"os_user", "'mallory'"},
      {"pid", "pid + 1"},
      {"command", "'udmg-server status'"},
      {"event", "'job-start'"},
      {"outcome", "'refused: nothing'"},
      {"root_before", "root_before + 1"},
      {"root_after", "root_after + 1"},
      {"master_before", "master_before + 1"},
      {"master_after", "master_after + 1"},
      {"k0_fingerprint", "'" + FingerprintOf(new_key_) + "'"},
      {"key_version", "2"},
      {"mac", "'" + other_mac + "'"},
      {"detail", "'retired master version 1'"},  // a detail added where there was none
  };
  for (const auto& [column, value] : edits) {
    SCOPED_TRACE(column);
    const std::string original =
        Trimmed(server_.Exec("SELECT " + column + " FROM udmg_audit WHERE seq = 2;"));
    server_.Exec("UPDATE udmg_audit SET " + column + " = " + value + " WHERE seq = 2;");
    ExpectBroken("the audit trail does not verify: entry 2 does not verify");
    server_.Exec("UPDATE udmg_audit SET " + column + " = '" + original + "' WHERE seq = 2;");
  }
  RunOk(server_, {"audit", "verify"});
}

TEST_P(AuditTest, ARemovedEntryIsCaughtEvenWhenTheOthersAreRenumbered) {
  server_.Exec("DELETE FROM udmg_audit WHERE seq = 2;");
  ExpectBroken("entry 3 is where entry 2 should be: entries were removed, reordered or inserted");
  server_.Exec("UPDATE udmg_audit SET seq = seq - 1 WHERE seq = 3;");
  server_.Exec("UPDATE udmg_audit SET seq = seq - 1 WHERE seq = 4;");
  ExpectBroken("entry 2 does not verify");
}

TEST_P(AuditTest, SwappedEntriesAreCaught) {
  server_.Exec("UPDATE udmg_audit SET seq = 100 WHERE seq = 2;");
  server_.Exec("UPDATE udmg_audit SET seq = 2 WHERE seq = 3;");
  server_.Exec("UPDATE udmg_audit SET seq = 3 WHERE seq = 100;");
  ExpectBroken("entry 2 does not verify");
}

// A copied entry inserted as a new last one (its seal is valid, for another place).
TEST_P(AuditTest, AnEntryCopiedToTheEndIsCaught) {
  server_.Exec(
      "INSERT INTO udmg_audit SELECT 5, at, node, os_user, pid, command, event, outcome, "
      "root_before, root_after, master_before, master_after, k0_fingerprint, "
      "key_version, mac, detail FROM udmg_audit WHERE seq = 4;");
  ExpectBroken("entry 5 does not verify");
}

// Removing entries from the end keeps the chain valid: a removed rotate-k0 shows against the
// keyring's current root; otherwise only a head kept outside the database shows it.
TEST_P(AuditTest, ATruncatedEndIsCaughtByTheKeyringOrAKeptHead) {
  const std::string head = Head();
  EXPECT_EQ(head.rfind("4:", 0), 0u) << head;
  RunOk(server_, {"audit", "verify", "--expect-head", head});
  server_.Exec("DELETE FROM udmg_audit WHERE seq = 4;");
  ProcessResult shortened = RunOk(server_, {"audit", "verify"});
  EXPECT_TRUE(Contains(shortened.stdout_data, "audit trail verified: 3 entries"))
      << shortened.stdout_data;
  ExpectBroken("no longer holds the expected head " + head, {"--expect-head", head});

  server_.Exec("DELETE FROM udmg_audit WHERE seq = 3;");
  ExpectBroken(
      "entry 2 leaves root key version 1 current, but the keyring's current root key is "
      "version 2: a keyring change is missing from the trail");
}

// --since: a date, a time or a duration before now; entries before it are left out (listing
// does not verify: the dates moved back here break the seals, which `audit verify` would report).
TEST_P(AuditTest, ListSinceLeavesOutOlderEntries) {
  server_.Exec("UPDATE udmg_audit SET at = at - 10 * 86400 WHERE seq <= 2;");
  json recent = json::parse(
      RunOk(server_, {"audit", "list", "--since", "5d", "--json"}).stdout_data)["entries"];
  ASSERT_EQ(recent.size(), 2u) << recent.dump();
  EXPECT_EQ(recent[0]["seq"], 3);
  EXPECT_EQ(recent[1]["seq"], 4);
  EXPECT_EQ(json::parse(RunOk(server_, {"audit", "list", "--since", "2000-01-01", "--json"})
                            .stdout_data)["entries"]
                .size(),
            4u);
  EXPECT_EQ(RunOk(server_, {"audit", "list", "--since", "2999-01-01T00:00:00Z"}).stdout_data,
            "no audit entry since 2999-01-01T00:00:00Z\n");
  for (const char* bad : {"2026-13-01", "yesterday", "2026-12-01 10:00"}) {
    ExpectOneErrorLine(server_.Run({"audit", "list", "--since", bad}), kExitBadInput,
                       {"--since", "is neither a UTC date or time"});
  }
}

// A new change after a verification: the kept head is still held, and the trail goes on.
TEST_P(AuditTest, AKeptHeadStaysValidAsTheTrailGrows) {
  const std::string head = Head();
  RunOk(server_, {"rotate-master-key"});
  RunOk(server_, {"audit", "verify", "--expect-head", head});
  EXPECT_EQ(Head().rfind("5:", 0), 0u);
  ProcessResult malformed = server_.Run({"audit", "verify", "--expect-head", "4"});
  EXPECT_EQ(malformed.exit_code, kExitBadInput) << malformed.Describe();
}

// A database set up before the trail existed (schema version 6): the upgrade starts an empty
// trail, and the next keyring change is its first entry.
TEST_P(AuditTest, ADatabaseFromBeforeTheTrailStartsItAtItsNextChange) {
  server_.Exec("DROP TABLE udmg_policy;");
  server_.Exec("DROP TABLE udmg_audit;");
  server_.Exec("DELETE FROM udmg_schema_migrations WHERE version >= 7;");
  ProcessResult empty = RunOk(server_, {"audit", "list"});
  EXPECT_EQ(empty.stdout_data, "the audit trail is empty\n");
  RunOk(server_, {"rotate-master-key"});
  json entries = Entries();
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0]["seq"], 1);
  EXPECT_EQ(entries[0]["master_after"], 4);
  EXPECT_TRUE(
      Contains(RunOk(server_, {"audit", "verify"}).stdout_data, "audit trail verified: 1 entry\n"));
}

UDMG_INSTANTIATE_FOR_ALL_BACKENDS(AuditTest);

}  // namespace
}  // namespace udmg::testing
