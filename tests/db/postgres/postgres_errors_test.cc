// PgStore failures on a real server: one line for an unreachable server, bad credentials, a
// missing privilege; no password in any message or in Describe(); a terminated connection is
// replaced and the operation completes (pg_terminate_backend waits until the backend is gone).
#include <sys/socket.h>
#include <netinet/in.h>
#include <unistd.h>

#include "tests/db/postgres/pg_store_fixture.h"

namespace udmg::db::testing {
namespace {

constexpr const char* kPassword = "s3cr3t-Pa55";

// host:port/db of the test server URL, for building URLs with other users.
std::string ServerPart(const std::string& url) {
  std::string rest = url.substr(url.find("://") + 3);
  if (size_t at = rest.find('@'); at != std::string::npos) rest = rest.substr(at + 1);
  return rest;
}

// A loopback TCP port nobody listens on: bound, never listened to, closed after the test.
class ClosedPort {
 public:
  ClosedPort() {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof(address);
    if (bind(fd_, reinterpret_cast<sockaddr*>(&address), length) != 0 ||
        getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
      ADD_FAILURE() << "cannot bind a loopback port";
    }
    port_ = ntohs(address.sin_port);
  }
  ~ClosedPort() { close(fd_); }
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

TEST(PgOpenTest, UnreachableServerIsOneLineWithoutThePassword) {
  ClosedPort closed;
  std::string url = "postgresql://someone:" + std::string(kPassword) + "@127.0.0.1:" +
                    std::to_string(closed.port()) + "/db?connect_timeout=5";
  Status status = postgres::OpenPostgresStore(url).status();
  EXPECT_STATUS(status, kDatabase, "cannot reach the PostgreSQL server");
  EXPECT_NE(status.message().find("someone@127.0.0.1"), std::string::npos) << status.message();
  EXPECT_EQ(status.message().find(kPassword), std::string::npos) << status.message();
}

TEST(PgOpenTest, MalformedUrlIsOneLine) {
  Status status =
      postgres::OpenPostgresStore("postgresql://u:" + std::string(kPassword) + "@host/db?nonsense=1")
          .status();
  EXPECT_STATUS(status, kDatabase, "check the URL");
  EXPECT_EQ(status.message().find(kPassword), std::string::npos) << status.message();
}

class PgAccessTest : public PgStoreTest {
 protected:
  void SetUp() override {
    PgStoreTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    role_ = "udmg_test_role_" + std::to_string(getpid());
    database_->TryExecute("DROP ROLE IF EXISTS " + role_);
    database_->Execute("CREATE ROLE " + role_ + " LOGIN PASSWORD '" + kPassword + "'");
  }
  void TearDown() override {
    if (!role_.empty()) database_->TryExecute("DROP ROLE IF EXISTS " + role_);
  }
  std::string RoleUrl(const std::string& password) {
    return "postgresql://" + role_ + ":" + password + "@" + ServerPart(database_->url());
  }
  std::string role_;
};

TEST_F(PgAccessTest, BadCredentialsAreOneLineWithoutThePassword) {
  Status status = postgres::OpenPostgresStore(RoleUrl("wrong-" + std::string(kPassword))).status();
  EXPECT_STATUS(status, kDatabase, "refused the login");
  EXPECT_EQ(status.message().find(kPassword), std::string::npos) << status.message();
}

TEST_F(PgAccessTest, MissingPrivilegeIsOneLine) {
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Store> store,
                       postgres::OpenPostgresStore(RoleUrl(kPassword)));
  EXPECT_EQ(store->Describe().find(kPassword), std::string::npos) << store->Describe();
  EXPECT_NE(store->Describe().find(role_ + "@"), std::string::npos) << store->Describe();
  // The role may look into the test's schema but neither read its tables nor create any.
  database_->Execute("GRANT USAGE ON SCHEMA " + database_->QueryText("SELECT current_schema()") +
                     " TO " + role_);
  EXPECT_STATUS(store->ListColumns().status(), kDatabase,
                "listing the registered columns failed: the database role lacks a privilege");
  EXPECT_STATUS(store->LoadKeyring().status(), kDatabase, "lacks a privilege");
  EXPECT_STATUS(store->Migrate(), kDatabase,
                "reading the schema version failed: the database role lacks a privilege");
  database_->Execute("DROP TABLE udmg_schema_migrations");
  EXPECT_STATUS(store->Migrate(), kDatabase, "permission denied for schema");
}

// ALTER COLUMN TYPE under a prepared ReadValue: the statement is prepared again, the read goes on.
TEST_F(PgStoreTest, ColumnTypeChangedUnderAPreparedStatementIsPreparedAgain) {
  database_->Execute("CREATE TABLE items (id bigint PRIMARY KEY, secret varchar(40))");
  database_->Execute("INSERT INTO items VALUES (1, 'udmg:v1:a')");
  const ColumnRef items{"items", "secret", "id"};
  ASSERT_OK(store_->AddColumn(items));
  ASSERT_OK_AND_ASSIGN(std::optional<StoredValue> before, store_->ReadValue(items, int64_t{1}));
  database_->Execute("ALTER TABLE items ALTER COLUMN secret TYPE text");
  ASSERT_OK_AND_ASSIGN(std::optional<StoredValue> after, store_->ReadValue(items, int64_t{1}));
  ASSERT_TRUE(after.has_value());
  EXPECT_EQ(after->value, std::optional<std::string>("udmg:v1:a"));
}

TEST_F(PgStoreTest, TerminatedConnectionIsReplacedForReadsAndWrites) {
  database_->Execute("CREATE TABLE items (id bigint PRIMARY KEY, secret text)");
  database_->Execute("INSERT INTO items VALUES (1, 'udmg:v1:a'), (2, 'udmg:v1:b')");
  const ColumnRef items{"items", "secret", "id"};
  ASSERT_OK(store_->AddColumn(items));
  auto terminate = [&] {
    int pid = store_->connection().BackendPid();
    ASSERT_NE(pid, 0);
    // The second argument waits (up to 10 s) until the backend has exited.
    EXPECT_EQ(database_->QueryText("SELECT pg_terminate_backend(" + std::to_string(pid) +
                                   ", 10000)"),
              "t");
  };
  terminate();
  ASSERT_OK_AND_ASSIGN(std::vector<ColumnRef> columns, store_->ListColumns());
  EXPECT_EQ(columns.size(), 1u);
  EXPECT_EQ(store_->connection().reconnects(), 1);

  // Prepared statements are prepared again on the new connection.
  ASSERT_OK_AND_ASSIGN(std::optional<StoredValue> value, store_->ReadValue(items, int64_t{1}));
  terminate();
  std::vector<CasWrite> writes = {{int64_t{1}, "udmg:v1:a", "udmg:v2:a"},
                                  {int64_t{2}, "udmg:v1:b", "udmg:v2:b"}};
  ASSERT_OK_AND_ASSIGN(std::vector<bool> applied, store_->CompareAndSwap(items, writes));
  EXPECT_EQ(applied, (std::vector<bool>{true, true}));
  EXPECT_EQ(store_->connection().reconnects(), 2);
  terminate();
  ASSERT_OK_AND_ASSIGN(int64_t job, store_->CreateJob("reencrypt", 2, {items}));
  terminate();
  ASSERT_OK(store_->SaveCheckpoint(job, items, RowKey(int64_t{2}), 2, 0, 0, true));
  Result<std::optional<JobRecord>> record = store_->LoadJob(job);
  ASSERT_TRUE(record.ok() && record->has_value());
  EXPECT_EQ(record->value().columns.at(0).migrated, 2u);
  EXPECT_EQ(store_->connection().reconnects(), 4);
  EXPECT_EQ(database_->QueryText("SELECT count(*) FROM items WHERE secret LIKE 'udmg:v2:%'"), "2");
}

}  // namespace
}  // namespace udmg::db::testing
