#include "engine/envelope.h"

#include <gtest/gtest.h>

namespace udmg {
namespace {

TEST(EnvelopeTest, PrefixIsDecimalVersion) {
  EXPECT_EQ(EnvelopePrefix(1), "udmg:v1:");
  EXPECT_EQ(EnvelopePrefix(7), "udmg:v7:");
  EXPECT_EQ(EnvelopePrefix(10), "udmg:v10:");
  EXPECT_EQ(EnvelopePrefix(4294967295u), "udmg:v4294967295:");
}

TEST(EnvelopeTest, LooksEncryptedOnlyWithTheMagic) {
  EXPECT_TRUE(LooksEncrypted("udmg:v1:AAAA"));
  EXPECT_TRUE(LooksEncrypted("udmg:"));
  EXPECT_TRUE(LooksEncrypted("udmg:garbage"));
  EXPECT_FALSE(LooksEncrypted("udmg"));
  EXPECT_FALSE(LooksEncrypted("UDMG:v1:AAAA"));
  EXPECT_FALSE(LooksEncrypted(" udmg:v1:"));
  EXPECT_FALSE(LooksEncrypted(""));
  EXPECT_FALSE(LooksEncrypted("hunter2"));
}

TEST(EnvelopeTest, ParsesVersionPrefixAndPayload) {
  Result<EnvelopeParts> parts = ParseEnvelope("udmg:v12:QUJD");
  ASSERT_TRUE(parts.ok()) << parts.error().message;
  EXPECT_EQ(parts->version, 12u);
  EXPECT_EQ(parts->prefix, "udmg:v12:");
  EXPECT_EQ(parts->payload, "QUJD");

  Result<EnvelopeParts> max = ParseEnvelope("udmg:v4294967295:");
  ASSERT_TRUE(max.ok());
  EXPECT_EQ(max->version, 4294967295u);
  EXPECT_EQ(max->payload, "");
}

TEST(EnvelopeTest, RefusesMalformedEnvelopesWithoutEchoingThem) {
  for (std::string_view bad : {
           "udmg:", "udmg:x", "udmg:v", "udmg:v:", "udmg:v0:QUJD", "udmg:v01:QUJD",
           "udmg:v00:", "udmg:v4294967296:QUJD", "udmg:v99999999999999999999:", "udmg:v1",
           "udmg:v1QUJD", "udmg:v-1:QUJD", "udmg:v+1:QUJD", "udmg:v 1:QUJD", "udmg:V1:QUJD",
           "udmg:v1x:QUJD", "udmg::v1:QUJD", "udmg:b", "udmg:b:", "udmg:b0:QUJD",
           "udmg:b01:QUJD", "udmg:B1:QUJD", "udmg:bv1:QUJD", "udmg:b1QUJD",
       }) {
    Result<EnvelopeParts> parts = ParseEnvelope(bad);
    ASSERT_FALSE(parts.ok()) << "accepted \"" << bad << "\"";
    EXPECT_EQ(parts.error().code, ErrorCode::kBadInput) << bad;
    EXPECT_EQ(parts.error().message.find("QUJD"), std::string::npos) << parts.error().message;
  }
}

TEST(EnvelopeTest, PrefixRoundTripsThroughParse) {
  for (uint32_t version : {1u, 2u, 9u, 10u, 99u, 100u, 65536u, 4294967295u}) {
    const std::string value = EnvelopePrefix(version) + "AAAA";
    Result<EnvelopeParts> parts = ParseEnvelope(value);
    ASSERT_TRUE(parts.ok());
    EXPECT_EQ(parts->version, version);
    EXPECT_EQ(parts->prefix, EnvelopePrefix(version));
  }
}

TEST(EnvelopeTest, TheBoundFormParsesWithItsOwnPrefix) {
  for (uint32_t version : {1u, 7u, 4294967295u}) {
    const std::string value = BoundEnvelopePrefix(version) + "AAAA";
    Result<EnvelopeParts> parts = ParseEnvelope(value);
    ASSERT_TRUE(parts.ok()) << value;
    EXPECT_TRUE(parts->bound);
    EXPECT_EQ(parts->version, version);
    EXPECT_EQ(parts->prefix, "udmg:b" + std::to_string(version) + ":");
    EXPECT_EQ(parts->payload, "AAAA");
  }
  Result<EnvelopeParts> unbound = ParseEnvelope("udmg:v7:AAAA");
  ASSERT_TRUE(unbound.ok());
  EXPECT_FALSE(unbound->bound);
}

TEST(EnvelopeTest, TheBoundAadIsPrefixTableColumnAndKeySeparatedByZeroBytes) {
  std::string aad = "left over";
  BoundAad("udmg:b3:", ValueLocation{"credentials", "secret", "42", 1}, aad);
  EXPECT_EQ(aad, std::string("udmg:b3:credentials\0secret\0" "42", 29));
  // Identifiers cannot hold 0x00: moving a character between names changes the AAD.
  std::string other;
  BoundAad("udmg:b3:", ValueLocation{"credential", "ssecret", "42", 1}, other);
  EXPECT_NE(aad, other);
}

TEST(EnvelopeTest, OnlyABoundColumnRefusesUnboundEnvelopesFromItsVersionOn) {
  auto parts = [](std::string_view value) { return *ParseEnvelope(value); };
  const ValueLocation bound{"t", "c", "1", 5};
  const ValueLocation unbound{"t", "c", "1", std::nullopt};
  EXPECT_FALSE(RefusedAsUnbound(parts("udmg:v4:AAAA"), &bound));
  EXPECT_TRUE(RefusedAsUnbound(parts("udmg:v5:AAAA"), &bound));
  EXPECT_TRUE(RefusedAsUnbound(parts("udmg:v6:AAAA"), &bound));
  EXPECT_FALSE(RefusedAsUnbound(parts("udmg:b6:AAAA"), &bound));
  EXPECT_FALSE(RefusedAsUnbound(parts("udmg:v6:AAAA"), &unbound));
  EXPECT_FALSE(RefusedAsUnbound(parts("udmg:v6:AAAA"), nullptr));
}

}  // namespace
}  // namespace udmg
