// Certificates for the TLS tests, made at run time with OpenSSL's API (no private key is ever
// committed): a CA, certificates it signs (for "localhost" and 127.0.0.1, expired, a client's),
// one signed by another CA, and a self-signed one, written as PEM files in a scratch
// directory that is removed at exit.
#pragma once

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

namespace asyncio_test {

class TestCertificates {
 public:
  struct Pair {
    std::string cert;  // PEM file paths
    std::string key;
  };

  /// Made once per program.
  static const TestCertificates& get() {
    static const TestCertificates certificates;
    return certificates;
  }

  std::string ca;        // the CA the tests trust
  Pair server;           // CN=localhost, SAN DNS:localhost, IP:127.0.0.1, signed by ca
  Pair expired;          // the same names, expired a day ago
  Pair other_ca_server;  // CN=localhost signed by a CA nobody trusts
  Pair self_signed;      // CN=localhost, its own issuer
  Pair client;           // CN=test client, signed by ca
  Pair encrypted;        // CN=localhost signed by ca, its key encrypted with "secret"
  std::string directory;

  ~TestCertificates() {
    std::error_code ignored;
    std::filesystem::remove_all(directory, ignored);
  }

 private:
  struct Made {
    EVP_PKEY* key;
    X509* cert;
  };

  TestCertificates() {
    char pattern[] = "/tmp/asyncio-tls-XXXXXX";
    if (!::mkdtemp(pattern)) throw std::runtime_error("mkdtemp failed");
    directory = pattern;
    const long day = 24 * 3600;
    Made root = make("asyncio test CA", {}, nullptr, -day, 30 * day, true);
    Made other_root = make("another CA", {}, nullptr, -day, 30 * day, true);
    ca = write_cert("ca.pem", root.cert);
    const std::vector<std::string> names{"DNS:localhost", "IP:127.0.0.1"};
    server = write("server", make("localhost", names, &root, -day, 30 * day, false));
    expired = write("expired", make("localhost", names, &root, -10 * day, -day, false));
    other_ca_server = write("other", make("localhost", names, &other_root, -day, 30 * day, false));
    self_signed = write("self", make("localhost", names, nullptr, -day, 30 * day, false));
    client = write("client", make("test client", {}, &root, -day, 30 * day, false));
    encrypted =
        write("encrypted", make("localhost", names, &root, -day, 30 * day, false), "secret");
    free(root);
    free(other_root);
  }

  static void free(Made made) {
    X509_free(made.cert);
    EVP_PKEY_free(made.key);
  }

  static void add_extension(X509* cert, X509* issuer, int nid, const std::string& value) {
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
    if (!ext) throw std::runtime_error("bad extension " + value);
    X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
  }

  /// A P-256 key and a certificate for `cn`, signed by `issuer` (self-signed when null), valid
  /// from now + not_before to now + not_after (seconds).
  static Made make(const std::string& cn, const std::vector<std::string>& names, const Made* issuer,
                   long not_before, long not_after, bool is_ca) {
    static long serial = 1;
    EVP_PKEY* key = EVP_EC_gen("P-256");
    X509* cert = X509_new();
    X509_set_version(cert, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cert), serial++);
    X509_gmtime_adj(X509_getm_notBefore(cert), not_before);
    X509_gmtime_adj(X509_getm_notAfter(cert), not_after);
    X509_set_pubkey(cert, key);
    X509_NAME* name = X509_get_subject_name(cert);
    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>("asyncio tests"), -1, -1, 0);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
    X509* issuer_cert = issuer ? issuer->cert : cert;
    X509_set_issuer_name(cert, X509_get_subject_name(issuer_cert));
    add_extension(cert, issuer_cert, NID_basic_constraints,
                  is_ca ? "critical,CA:TRUE" : "CA:FALSE");
    if (is_ca) add_extension(cert, issuer_cert, NID_key_usage, "critical,keyCertSign,cRLSign");
    // Key identifiers, which RFC 5280 (and VERIFY_X509_STRICT) asks for.
    add_extension(cert, issuer_cert, NID_subject_key_identifier, "hash");
    add_extension(cert, issuer_cert, NID_authority_key_identifier, "keyid:always");
    std::string san;
    for (const std::string& n : names) san += (san.empty() ? "" : ",") + n;
    if (!san.empty()) add_extension(cert, issuer_cert, NID_subject_alt_name, san);
    X509_sign(cert, issuer ? issuer->key : key, EVP_sha256());
    return {key, cert};
  }

  std::string write_cert(const std::string& file, X509* cert) const {
    const std::string path = directory + "/" + file;
    FILE* out = std::fopen(path.c_str(), "w");
    PEM_write_X509(out, cert);
    std::fclose(out);
    return path;
  }

  /// The certificate and its key (encrypted with AES-128 under `password` when one is given).
  Pair write(const std::string& stem, Made made, const char* password = nullptr) const {
    Pair pair{write_cert(stem + ".pem", made.cert), directory + "/" + stem + ".key"};
    FILE* out = std::fopen(pair.key.c_str(), "w");
    PEM_write_PrivateKey(out, made.key, password ? EVP_aes_128_cbc() : nullptr, nullptr, 0, nullptr,
                         const_cast<char*>(password));
    std::fclose(out);
    free(made);
    return pair;
  }
};

}  // namespace asyncio_test
