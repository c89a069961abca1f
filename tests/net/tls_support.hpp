// A self-signed certificate for the TLS tests, made at run time with the
// OpenSSL API: P-256 key, CN=localhost, subjectAltName localhost and
// 127.0.0.1, valid from an hour ago for a day (or until `expires_in`
// seconds from now: a negative one makes an expired certificate).
#pragma once

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstdio>
#include <stdexcept>
#include <string>

namespace weft_net_test {

struct cert_files {
  std::string cert;  // PEM certificate (also the CA file clients trust)
  std::string key;   // PEM private key
};

inline cert_files make_self_signed(const std::string& dir, const std::string& name = "localhost",
                                   long expires_in = 86400) {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  if (!key) throw std::runtime_error("EVP_EC_gen failed");
  X509* x = X509_new();
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
  X509_gmtime_adj(X509_getm_notBefore(x), -3600);
  X509_gmtime_adj(X509_getm_notAfter(x), expires_in);
  X509_set_pubkey(x, key);
  X509_NAME* subject = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(name.c_str()), -1, -1, 0);
  X509_set_issuer_name(x, subject);
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, x, x, nullptr, nullptr, 0);
  std::string san = "DNS:" + name + ",IP:127.0.0.1";
  if (X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, NID_subject_alt_name, san.c_str())) {
    X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
  }
  if (!X509_sign(x, key, EVP_sha256())) throw std::runtime_error("X509_sign failed");
  cert_files f{dir + "/" + name + "-cert.pem", dir + "/" + name + "-key.pem"};
  FILE* c = std::fopen(f.cert.c_str(), "w");
  FILE* k = std::fopen(f.key.c_str(), "w");
  if (!c || !k) throw std::runtime_error("cannot write the certificate files");
  PEM_write_X509(c, x);
  PEM_write_PrivateKey(k, key, nullptr, nullptr, 0, nullptr, nullptr);
  std::fclose(c);
  std::fclose(k);
  X509_free(x);
  EVP_PKEY_free(key);
  return f;
}

}  // namespace weft_net_test
