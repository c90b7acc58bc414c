"""The hash vectors of spec §11: hex form, chunk hashes, Merkle roots, file IDs, salted and verification
hashes, CRC-64/NVME."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cove.server.cas.errors import InvalidXetData
from cove.server.cas.hashes import (
    ZERO_HASH,
    chunk_hash,
    crc64_nvme,
    dedup_eligible,
    file_hash,
    from_hex,
    keyed,
    keyed_chunk_hash,
    merkle_root,
    to_hex,
    verification_hash,
)

A = from_hex("cfc5d07f6f03c29bbf424132963fe08d19a37d5757aaf520bf08119f05cd56d6")
B = from_hex("c3e67584b5c4fc2a89837ec39e40f2c8a6bb0b2987ac94cd4b31e5fbdd210a72")
C = from_hex("0d2beb91b9196929a5ddec9f6e306924ddf4a24268e3e59fd8464738d525af37")
D = from_hex("adf8773496a9b7319b2e50dc98093f344053b17d8ad37100b9c07d9805988784")


def test_hex_form_reverses_each_word():
    assert to_hex(bytes(range(32))) == "07060504030201000f0e0d0c0b0a090817161514131211101f1e1d1c1b1a1918"
    assert from_hex(to_hex(bytes(range(32)))) == bytes(range(32))
    assert from_hex("07060504030201000F0E0D0C0B0A090817161514131211101F1E1D1C1B1A1918") == bytes(range(32))


@pytest.mark.parametrize("bad", ["", "00" * 31, "00" * 33, "g" * 64, " " + "0" * 63, "0x" + "0" * 62, "０" * 64])
def test_from_hex_refuses_anything_else(bad):
    with pytest.raises(InvalidXetData, match="64 hex digits"):
        from_hex(bad)


def test_chunk_hash_and_file_id_of_hello_world():
    h = chunk_hash(b"hello world")
    assert h.hex() == "119f359d8b37394e0213441f7a559081d97ba0cf5f4ea519b151e66f460bf56c"
    assert to_hex(h) == "4e39378b9d359f118190557a1f44130219a54e5fcfa07bd96cf50b466fe651b1"
    assert to_hex(file_hash([(h, 11)])) == "f15edd43b7e85cfd25e2758ffe13b99fdd09dfa817e8d9f6548722a7a126db7f"


def test_empty_file_is_all_zeros():
    assert file_hash([]) == ZERO_HASH
    assert merkle_root([]) == ZERO_HASH


@pytest.mark.parametrize("nodes, xorb, file", [
    ([(A, 100), (B, 200), (C, 300)],
     "71ec1275fca074724e2dd666921b3277c7cee603e4d025bcab2d4050015be2bc",
     "54e55dccc6653c612bdb5576c5d3cb34bb31bc4e100248abccf4c908b3ef7715"),
    ([(A, 100)] * 4,
     "89f2ada89ff8c96763c6b25010e6dd76a4c05b1466207633ea559acf2093211b",
     "2cdba690d0e09563596e0cda626d43eb4c96ef1e994fe72d9b2f5a83cfcd36dd"),
    ([(A, 100), (B, 200), (A, 100), (B, 200), (C, 300), (D, 400)],
     "52c826f99507aa05d0b45e9837fa1709e0485425cfbcb1e80db3905cf98b3ee9",
     "91d21684db364c8883ab8209fa5eb2e781cf07f37e1fa43e731c30839afe422f"),
    ([(A, 100)], to_hex(A), "8e16257caa3fe079d484d872a8975264b2ff683b0d6db9028cc7c0f968a45661"),
])
def test_merkle_vectors(nodes, xorb, file):
    assert to_hex(merkle_root(nodes)) == xorb
    assert to_hex(file_hash(nodes)) == file


def test_salted_file_hash():
    salt = from_hex("b286606709ef32a1cfede1e603a39f83fef56772d8234c0e35d8920071d80b69")
    got = file_hash([(A, 100), (B, 200), (C, 300)], salt=salt)
    assert to_hex(got) == "337f1f046e4cfc1057f0f3edbd87cf977fdfaf3c2b0c0031ca2d1d2a34aa2270"


def test_merkle_groups_of_many_nodes_reduce_to_one_root():
    # 100 and 1000 nodes: several levels; each level's groups hold 2..9 nodes (never 1 unless alone)
    nodes = [(chunk_hash(i.to_bytes(4, "little")), 1000 + i) for i in range(1000)]
    root = merkle_root(nodes)
    assert root != merkle_root(nodes[:-1]) and len(root) == 32
    assert merkle_root(nodes[:2]) == keyed(
        bytes([1, 126, 197, 199, 165, 71, 41, 150, 253, 148, 102, 102, 180, 138, 2, 230,
               93, 221, 83, 111, 55, 199, 109, 210, 248, 99, 82, 230, 74, 83, 113, 63]),
        f"{to_hex(nodes[0][0])} : 1000\n{to_hex(nodes[1][0])} : 1001\n".encode())


def test_verification_hash_of_d(chunks_d):
    hashes = [chunk_hash(c) for c in chunks_d]
    assert to_hex(verification_hash(hashes)) == "a142f9956162a5b22588c769850988e2291dc805900f2799bdb5317a8bbd8ac9"
    assert to_hex(verification_hash(hashes[2:5])) == "5230e09f96beb8eef2ad04b6e36ea6856c5656f5e13e2bcb5b08705c5ecd1d24"


def test_keyed_chunk_hash_and_dedup_eligibility():
    h = chunk_hash(b"x")
    assert keyed_chunk_hash(h, ZERO_HASH) == h
    assert keyed_chunk_hash(h, b"k" * 32) == keyed(b"k" * 32, h) != h
    assert dedup_eligible(h, first_in_file=True)
    assert dedup_eligible(bytes(32)) and not dedup_eligible(bytes(24) + (1).to_bytes(8, "little"))
    assert dedup_eligible(bytes(24) + (2048).to_bytes(8, "little"))


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=70))
def test_fuzz_from_hex(text):
    try:
        assert to_hex(from_hex(text)) == text.lower()
    except InvalidXetData:
        pass


def test_refusals_map_to_400_and_store_faults_to_500():
    pytest.importorskip("fastapi")
    from cove.server.cas.errors import XetStoreError
    from cove.server.routes._common import error_response

    assert error_response(InvalidXetData("bad xorb")).status_code == 400
    assert error_response(XetStoreError("xorb gone")).status_code == 500


def test_crc64_nvme():
    assert crc64_nvme(b"123456789") == 0xAE8B14860A799888
    assert crc64_nvme(b"6789", crc64_nvme(b"12345")) == 0xAE8B14860A799888
