import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

from catena_site.ids import (
    EPOCH_MS,
    MAX_ID,
    SEQUENCE_BITS,
    WORKER_BITS,
    InvalidId,
    SnowflakeGenerator,
    decode_id,
    encode_id,
    new_id,
    new_ids,
)

ids = st.integers(min_value=0, max_value=MAX_ID)


@given(ids)
def test_encoding_round_trips(value):
    assert decode_id(encode_id(value)) == value


@given(ids)
def test_public_form_is_always_twelve_characters_ending_in_a_dot(value):
    text = encode_id(value)
    assert len(text) == 12
    assert text.endswith(".")
    assert set(text[:-1]) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def test_the_manuals_example_decodes():
    assert encode_id(decode_id("aKl9SW3AAAE.")) == "aKl9SW3AAAE."


@pytest.mark.parametrize("text", ["", "abc", "aKl9SW3AAAE", "aKl9SW3AAAE=", "aKl9SW3AA+E.", "aKl9SW3AAAF.",
                                  "/Kl9SW3AAAE.", "aKl9SW3AAAE..", None, 12])
def test_malformed_ids_are_refused(text):
    with pytest.raises(InvalidId):
        decode_id(text)


def test_ids_with_the_sign_bit_set_are_refused():
    with pytest.raises(InvalidId):
        decode_id("gAAAAAAAAAA.")


def test_ids_are_ordered_by_time():
    clock = iter([EPOCH_MS + 5, EPOCH_MS + 5, EPOCH_MS + 6, EPOCH_MS + 1000])
    generator = SnowflakeGenerator(worker_id=3, clock=lambda: next(clock))
    values = [generator() for _ in range(4)]
    assert values == sorted(values)
    assert len(set(values)) == 4
    assert (values[-1] >> (WORKER_BITS + SEQUENCE_BITS)) + EPOCH_MS == EPOCH_MS + 1000  # the time it was made


def test_a_clock_that_goes_back_never_repeats_an_id():
    clock = iter([EPOCH_MS + 10, EPOCH_MS + 9, EPOCH_MS + 9, EPOCH_MS + 11])
    generator = SnowflakeGenerator(worker_id=1, clock=lambda: next(clock))
    values = [generator() for _ in range(4)]
    assert values == sorted(values) and len(set(values)) == 4


def in_threads(work, count: int) -> None:
    """Run ``work(slot)`` for slots 0 … count-1, each in a thread of its own, all at once; wait for them all."""
    threads = [threading.Thread(target=work, args=(slot,)) for slot in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def test_ids_are_unique_across_threads():
    results: list[list[int]] = [[] for _ in range(8)]

    def work(slot):
        results[slot] = [new_id() for _ in range(5000)]

    in_threads(work, 8)
    everything = [v for chunk in results for v in chunk]
    assert len(everything) == len(set(everything)) == 40000
    for chunk in results:
        assert chunk == sorted(chunk)


def test_more_than_4096_ids_in_one_millisecond_stay_unique_and_ordered_without_waiting():
    generator = SnowflakeGenerator(worker_id=2, clock=lambda: EPOCH_MS + 50)  # a clock that never advances
    values = [generator() for _ in range(10_000)]
    assert values == sorted(values) and len(set(values)) == 10_000


def test_a_block_gives_what_as_many_calls_would_give():
    """A reserved block is the IDs one-by-one calls would give at the same clock readings, across the 4096 of a
    millisecond; the next call continues after it."""
    one_by_one = SnowflakeGenerator(worker_id=7, clock=lambda: EPOCH_MS + 50)
    blocked = SnowflakeGenerator(worker_id=7, clock=lambda: EPOCH_MS + 50)
    expected = [one_by_one() for _ in range(3)] + [one_by_one() for _ in range(10_000)] + [one_by_one()]
    got = [blocked() for _ in range(3)] + list(blocked.block(10_000)) + [blocked()]
    assert got == expected
    assert len(set(got)) == len(got) and got == sorted(got)
    assert list(blocked.block(0)) == []


def test_blocks_and_single_ids_never_overlap_across_threads():
    results: list[list[int]] = [[] for _ in range(6)]

    def work(slot):
        for _ in range(20):
            results[slot] += list(new_ids(700)) if slot % 2 else [new_id() for _ in range(700)]

    in_threads(work, 6)
    every = [value for values in results for value in values]
    assert len(set(every)) == len(every) == 6 * 20 * 700
