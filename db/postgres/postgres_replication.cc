// The primary's WAL position and its streaming replicas (pg_stat_replication), for the job's
// --max-replica-lag.
#include <cstdint>
#include <string>

#include "db/postgres/postgres_store.h"

namespace udmg::db::postgres {

Result<ReplicationState> PgStore::ReadReplication() {
  return connection_->Read<ReplicationState>(
      "reading the replication state",
      [&](pqxx::transaction_base& transaction) -> Result<ReplicationState> {
        // WAL positions as byte offsets (a pg_lsn has no integer cast; bigint holds 8 EiB of
        // WAL). The positions and the lag are NULL for a session without pg_monitor /
        // pg_read_all_stats.
        pqxx::result rows = transaction.exec(
            "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint, "
            "COALESCE(NULLIF(r.application_name, ''), host(r.client_addr), r.pid::text), "
            "pg_wal_lsn_diff(r.replay_lsn, '0/0')::bigint, "
            "EXTRACT(EPOCH FROM r.replay_lag)::float8 "
            "FROM (SELECT 1) AS one LEFT JOIN pg_stat_replication r ON true "
            "ORDER BY 2");
        ReplicationState state;
        for (const pqxx::row& row : rows) {
          state.primary_lsn = row[0].as<uint64_t>();
          if (row[1].is_null()) continue;  // no replica: the LEFT JOIN's empty row
          ReplicaPosition& replica = state.replicas.emplace_back();
          replica.name = row[1].as<std::string>();
          if (!row[2].is_null()) replica.replay_lsn = row[2].as<uint64_t>();
          if (!row[3].is_null()) replica.replay_lag_seconds = row[3].as<double>();
        }
        return state;
      });
}

}  // namespace udmg::db::postgres
