"""Certificates: our identity (PEM/PKCS#12), chain and expiry checks, CSRs, the test PKI."""

from adapter.pki.certs import check_key_permissions, days_left, load_pem_chain, read_oin
from adapter.pki.identity import (
                                  Credentials,
                                  Identity,
                                  load_credentials,
                                  load_identity,
                                  read_passphrase,
)
from adapter.pki.testpki import DUO_OIN, init_test_pki, issue_leaf

__all__ = ["DUO_OIN", "Credentials", "Identity", "check_key_permissions", "days_left",
           "init_test_pki", "issue_leaf", "load_credentials", "load_identity", "load_pem_chain",
           "read_oin", "read_passphrase"]
