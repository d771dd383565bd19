#include "db/postgres/postgres_keys.h"

#include <charconv>

#include "db/store_internal.h"

namespace udmg::db::postgres {
namespace {

// Type oids of smallint, integer and bigint (pg_type.h; stable across releases).
constexpr int kInt2Oid = 21;
constexpr int kInt4Oid = 23;
constexpr int kInt8Oid = 20;

}  // namespace

std::optional<std::string> KeyParameter(const KeyColumnType& type, const RowKey& key) {
  int64_t number = 0;
  if (const int64_t* integer = std::get_if<int64_t>(&key)) {
    number = *integer;
  } else {
    const std::string& text = std::get<std::string>(key);
    if (type.integer_bits == 0) return text;
    std::string_view digits = text;
    if (!digits.empty() && digits[0] == '+') digits.remove_prefix(1);
    auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), number);
    if (digits.empty() || error != std::errc() || end != digits.data() + digits.size()) {
      return std::nullopt;
    }
  }
  if (type.integer_bits == 16 && (number < INT16_MIN || number > INT16_MAX)) return std::nullopt;
  if (type.integer_bits == 32 && (number < INT32_MIN || number > INT32_MAX)) return std::nullopt;
  return std::to_string(number);
}

RowKey KeyFromField(const KeyColumnType& type, const pqxx::field& field) {
  if (type.integer_bits != 0) return field.as<int64_t>();
  return std::string(field.c_str(), field.size());
}

std::string TextArrayLiteral(const std::vector<std::string>& elements) {
  std::string literal = "{";
  for (size_t i = 0; i < elements.size(); ++i) {
    if (i > 0) literal += ',';
    literal += '"';
    for (char c : elements[i]) {
      if (c == '"' || c == '\\') literal += '\\';
      literal += c;
    }
    literal += '"';
  }
  literal += '}';
  return literal;
}

std::optional<KeyColumnType> ReadKeyColumnType(pqxx::transaction_base& transaction,
                                               const std::string& table_sql,
                                               const std::string& key_column) {
  pqxx::result rows = transaction.exec_params(
      "SELECT a.atttypid::integer, format_type(a.atttypid, NULL) FROM pg_attribute a "
      "WHERE a.attrelid = to_regclass($1) AND a.attname = $2 AND a.attnum > 0 "
      "AND NOT a.attisdropped",
      table_sql, key_column);
  if (rows.empty()) return std::nullopt;
  KeyColumnType type;
  int oid = rows[0][0].as<int>();
  type.integer_bits = oid == kInt2Oid ? 16 : oid == kInt4Oid ? 32 : oid == kInt8Oid ? 64 : 0;
  type.sql_type = rows[0][1].as<std::string>();
  type.table_sql = table_sql;
  return type;
}

}  // namespace udmg::db::postgres
