"""The digitizer frame codec: byte vectors from docs/seismic-protocol.md, and fuzzing."""

from __future__ import annotations

import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drivers.stream.codec import (
    FLAG_BOOT,
    FLAG_CLIP,
    MAX_FRAME,
    SAMPLE_RATES,
    DecodeResult,
    Frame,
    StreamDecoder,
    decode,
    encode_frame,
    rate_code,
)

DOC_FRAME_24 = bytes.fromhex(
    "a55a 0122 0700 e8030000 02 01 010000 ffffff ffff7f 000080 24463a33".replace(" ", "")
)
DOC_FRAME_32 = bytes.fromhex("a55a013effffffffffff0104feffffffa08601003a717e8b")


def test_crc_is_crc32_iso_hdlc() -> None:
    assert zlib.crc32(b"123456789") == 0xCBF43926


def test_documented_24_bit_frame_encodes_to_the_exact_bytes() -> None:
    frame = encode_frame(
        [[1, -1], [8388607, -8388608]], seq=7, counter=1000, rate=500, flags=FLAG_CLIP
    )
    assert frame == DOC_FRAME_24


def test_documented_32_bit_frame_encodes_to_the_exact_bytes() -> None:
    frame = encode_frame(
        [[-2, 100000]], seq=65535, counter=0xFFFFFFFF, rate=1000, bits=32, flags=FLAG_BOOT
    )
    assert frame == DOC_FRAME_32


def test_documented_frames_decode_to_their_fields() -> None:
    result = decode(DOC_FRAME_24 + DOC_FRAME_32)
    assert result.consumed == len(DOC_FRAME_24) + len(DOC_FRAME_32)
    assert (result.resyncs, result.crc_errors, result.garbage_bytes) == (0, 0, 0)
    a, b = result.frames
    assert (a.seq, a.counter, a.rate, a.bits, a.flags, a.channels, len(a)) == (
        7, 1000, 500, 24, FLAG_CLIP, 2, 2,
    )  # fmt: skip
    assert a.samples.tolist() == [[1, -1], [8388607, -8388608]]
    assert a.samples.dtype == np.int32
    assert (b.seq, b.counter, b.rate, b.bits, b.flags) == (65535, 0xFFFFFFFF, 1000, 32, FLAG_BOOT)
    assert b.samples.tolist() == [[-2, 100000]]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"samples": np.zeros((0, 1), int)}, "1-255 samples"),
        ({"samples": np.zeros((256, 1), int)}, "1-255 samples"),
        ({"samples": np.zeros((4, 4), int)}, "1-3 channels"),
        ({"samples": [[1 << 23]]}, "full scale"),
        ({"samples": [[-(1 << 23) - 1]]}, "full scale"),
        ({"samples": [[1.5]]}, "raw integers"),
        ({"rate": 333}, "not a digitizer rate"),
        ({"bits": 16}, "24 or 32"),
        ({"flags": 0x80}, "reserved"),
    ],
)
def test_encoder_refuses_what_the_format_cannot_carry(
    kwargs: dict[str, object], message: str
) -> None:
    args: dict[str, object] = {"samples": [[0]], "seq": 0, "counter": 0, "rate": 1000}
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        encode_frame(**args)  # type: ignore[arg-type]


def test_every_rate_code_round_trips() -> None:
    for rate in SAMPLE_RATES:
        (frame,) = decode(encode_frame([[1]], seq=0, counter=0, rate=rate)).frames
        assert frame.rate == rate
    assert [rate_code(r) for r in SAMPLE_RATES] == list(range(1, 15))


def test_seq_and_counter_wrap_as_on_the_device() -> None:
    (frame,) = decode(encode_frame([[1]], seq=65536 + 3, counter=(1 << 32) + 5, rate=250)).frames
    assert (frame.seq, frame.counter) == (3, 5)


def test_garbage_before_between_and_after_is_skipped_and_counted() -> None:
    f1 = encode_frame([[1, 2, 3]], seq=1, counter=0, rate=1000)
    f2 = encode_frame([[4, 5, 6]], seq=2, counter=1, rate=1000)
    result = decode(b"\x00\xff\x13" + f1 + b"\xa5\x5a\x09junk" + f2 + b"tail")
    assert [f.seq for f in result.frames] == [1, 2]
    assert result.garbage_bytes == 3 + 7 + 4
    assert result.resyncs == 2  # the tail is not a resync until a frame follows it
    assert result.lost
    assert result.consumed == len(b"\x00\xff\x13" + f1 + b"\xa5\x5a\x09junk" + f2 + b"tail")


def test_incomplete_frame_is_left_for_the_next_call() -> None:
    frame = encode_frame(np.arange(60).reshape(20, 3), seq=0, counter=0, rate=1000)
    for cut in range(1, len(frame)):
        result = decode(frame[:cut])
        assert result.frames == []
        assert result.garbage_bytes == 0
        assert result.consumed == 0
    # A lone first sync byte at the end may start a frame: it is kept too.
    assert decode(b"xyz\xa5").consumed == 3


def test_bad_crc_is_rejected_and_the_next_frame_still_found() -> None:
    good = [encode_frame([[i, -i]], seq=i, counter=i, rate=500) for i in range(3)]
    broken = bytearray(good[1])
    broken[13] ^= 0x01
    result = decode(good[0] + bytes(broken) + good[2])
    assert [f.seq for f in result.frames] == [0, 2]
    assert result.crc_errors == 1
    assert result.garbage_bytes == len(broken)
    assert result.resyncs == 1
    assert "CRC" in result.errors[0]


def test_corrupted_length_does_not_swallow_following_frames() -> None:
    good = [encode_frame(np.full((20, 3), i), seq=i, counter=20 * i, rate=1000) for i in range(5)]
    broken = bytearray(good[0])
    broken[10] = 255  # claims 255 samples: far longer than the stream that follows
    stream = bytes(broken) + b"".join(good[1:])
    result = decode(stream)
    # Waits for the claimed length (it may still arrive) ...
    assert result.frames == [] and result.consumed == 0
    # ... and once that many bytes are there, the CRC fails and nothing good is lost.
    result = decode(stream + bytes(MAX_FRAME))
    assert [f.seq for f in result.frames] == [1, 2, 3, 4]
    assert result.crc_errors == 1


def _stream_counts(results: list[DecodeResult]) -> tuple[int, int, int]:
    return (
        sum(r.resyncs for r in results),
        sum(r.crc_errors for r in results),
        sum(r.garbage_bytes for r in results),
    )


def _frames_of(results: list[DecodeResult]) -> list[tuple[int, int, list[list[int]]]]:
    return [(f.seq, f.counter, f.samples.tolist()) for r in results for f in r.frames]


def test_split_at_every_offset_gives_the_same_frames_and_counts() -> None:
    rng = np.random.default_rng(7)
    frames = [
        encode_frame(rng.integers(-(1 << 23), 1 << 23, (5, 3)), seq=i, counter=5 * i, rate=250)
        for i in range(3)
    ]
    bad = bytearray(frames[1])
    bad[20] ^= 0x40
    stream = b"\x01\xa5" + frames[0] + b"\xa5\x5a" + bytes(bad) + frames[2] + b"\x99\xa5"
    whole = decode(stream)
    for cut in range(len(stream) + 1):
        decoder = StreamDecoder()
        parts = [decoder.feed(stream[:cut]), decoder.feed(stream[cut:])]
        assert _frames_of(parts) == _frames_of([whole]), cut
        assert _stream_counts(parts) == _stream_counts([whole]), cut
        assert decoder.pending == len(stream) - whole.consumed


# -- property-based fuzzing ----------------------------------------------------------------


@st.composite
def frames(draw: st.DrawFn) -> bytes:
    bits = draw(st.sampled_from([24, 32]))
    channels = draw(st.integers(1, 3))
    n = draw(st.integers(1, 30))
    lo, hi = (-(1 << 23), (1 << 23) - 1) if bits == 24 else (-(1 << 31), (1 << 31) - 1)
    seed = draw(st.integers(0, 2**32 - 1))
    samples = np.random.default_rng(seed).integers(lo, hi, (n, channels), endpoint=True)
    return encode_frame(
        samples,
        seq=draw(st.integers(0, 65535)),
        counter=draw(st.integers(0, 2**32 - 1)),
        rate=draw(st.sampled_from(SAMPLE_RATES)),
        bits=bits,
        flags=draw(st.sampled_from([0, FLAG_CLIP, FLAG_BOOT, 3])),
    )


def _feed_in_chunks(stream: bytes, cuts: list[int]) -> list[DecodeResult]:
    decoder = StreamDecoder()
    results = []
    last = 0
    for cut in [*sorted({c % (len(stream) + 1) for c in cuts}), len(stream)]:
        results.append(decoder.feed(stream[last:cut]))
        last = cut
        assert decoder.pending <= MAX_FRAME
    return results


def _check_frame_is_genuine(frame: Frame) -> None:
    # Whatever the decoder returns re-encodes to a frame with a valid CRC and the same fields.
    again = decode(
        encode_frame(
            frame.samples,
            seq=frame.seq,
            counter=frame.counter,
            rate=frame.rate,
            bits=frame.bits,
            flags=frame.flags,
        )
    ).frames[0]
    assert again.samples.tolist() == frame.samples.tolist()


FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(st.binary(max_size=4000), st.lists(st.integers(0, 10_000), max_size=5))
def test_random_bytes_never_raise(data: bytes, cuts: list[int]) -> None:
    results = _feed_in_chunks(data, cuts)
    for result in results:
        assert result.consumed >= 0
        for frame in result.frames:
            _check_frame_is_genuine(frame)
    assert _stream_counts(results)[2] <= len(data)


@FUZZ
@given(
    st.lists(st.tuples(st.binary(max_size=40), frames()), min_size=1, max_size=8),
    st.binary(max_size=40),
    st.lists(st.integers(0, 10_000), max_size=6),
)
def test_every_frame_survives_garbage_around_it_and_any_split(
    pieces: list[tuple[bytes, bytes]], tail: bytes, cuts: list[int]
) -> None:
    stream = b"".join(g + f for g, f in pieces) + tail
    # Terminate with a clean frame so that a garbage tail is not left waiting for more bytes.
    end = encode_frame([[0]], seq=0, counter=0, rate=250)
    results = _feed_in_chunks(stream + bytes(MAX_FRAME) + end, cuts)
    got = [f for r in results for f in r.frames]
    sent = [frame for _, frame in pieces]
    expected = [decode(f).frames[0] for f in sent]
    # Every sent frame comes out, in order (garbage cannot hide one: the search only ever
    # jumps past bytes that formed a frame with a valid CRC).
    assert [(f.seq, f.counter, f.samples.tolist()) for f in got[:-1]] == [
        (f.seq, f.counter, f.samples.tolist()) for f in expected
    ]
    _, _, garbage = _stream_counts(results)
    assert garbage == sum(len(g) for g, _ in pieces) + len(tail) + MAX_FRAME


@FUZZ
@given(
    st.lists(frames(), min_size=2, max_size=8),
    st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 7)), min_size=1, max_size=4),
    st.lists(st.integers(0, 10_000), max_size=4),
)
def test_bit_flips_lose_only_the_frames_they_hit(
    sent: list[bytes], flips: list[tuple[int, int]], cuts: list[int]
) -> None:
    stream = bytearray(b"".join(sent))
    starts = np.cumsum([0] + [len(f) for f in sent])
    hit = set()
    for where, bit in flips:
        pos = where % len(stream)
        stream[pos] ^= 1 << bit
        hit.add(int(np.searchsorted(starts, pos, side="right")) - 1)
    results = _feed_in_chunks(bytes(stream) + bytes(MAX_FRAME), cuts)
    got = {(f.seq, f.counter, f.samples.tobytes()) for r in results for f in r.frames}
    for i, frame_bytes in enumerate(sent):
        if i in hit:
            continue
        (f,) = decode(frame_bytes).frames
        assert (f.seq, f.counter, f.samples.tobytes()) in got
    _, crc_errors, _ = _stream_counts(results)
    assert crc_errors <= len(hit) + len(got)  # flips may also forge a candidate or two


@FUZZ
@given(
    st.lists(frames(), min_size=1, max_size=6),
    st.lists(
        st.tuples(st.sampled_from(["insert", "delete", "duplicate"]), st.integers(0, 10**6)),
        max_size=6,
    ),
    st.binary(min_size=1, max_size=20),
)
def test_mutated_streams_never_raise(
    sent: list[bytes], mutations: list[tuple[str, int]], insert: bytes
) -> None:
    stream = bytearray(b"".join(sent))
    for op, where in mutations:
        pos = where % (len(stream) + 1)
        if op == "insert":
            stream[pos:pos] = insert
        elif op == "delete":
            del stream[pos : pos + len(insert)]
        else:
            stream[pos:pos] = stream[pos : pos + 50]
    results = _feed_in_chunks(bytes(stream), [len(stream) // 3, len(stream) // 2])
    for result in results:
        for frame in result.frames:
            assert frame.samples.shape == (len(frame), frame.channels)
            _check_frame_is_genuine(frame)
