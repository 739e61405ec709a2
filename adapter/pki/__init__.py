"""Certificates: the throw-away test PKI and helpers to read real PKIoverheid certificates."""

from adapter.pki.certs import check_key_permissions, days_left, load_pem_chain, read_oin
from adapter.pki.testpki import DUO_OIN, init_test_pki, issue_leaf

__all__ = ["DUO_OIN", "check_key_permissions", "days_left", "init_test_pki", "issue_leaf",
           "load_pem_chain", "read_oin"]
