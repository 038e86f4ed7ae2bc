"""Tests for `components.sum_tree.SumTree`: sums, prefix-sum search, duplicates and input errors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from components.sum_tree import SumTree

PROPERTY_SETTINGS = settings(max_examples=60, deadline=None)

# ----------------------------------------------------------------------------
# Helpers.
# ----------------------------------------------------------------------------


def assert_consistent(tree: SumTree, leaves: np.ndarray) -> None:
    """Every parent is exactly the sum of its children, the leaves are `leaves`, padding is 0."""
    nodes, first_leaf = tree._nodes, tree._first_leaf  # White-box: the invariant is about the layout.
    parents = np.arange(1, first_leaf)
    np.testing.assert_array_equal(nodes[parents], nodes[2 * parents] + nodes[2 * parents + 1])
    np.testing.assert_array_equal(nodes[first_leaf:first_leaf + tree.capacity], leaves)
    assert not nodes[first_leaf + tree.capacity:].any()
    assert tree.total == pytest.approx(float(np.sum(leaves)), rel=1e-12, abs=1e-300)


def cumulative_range_contains(leaves: np.ndarray, leaf: int, target: float, tolerance: float) -> bool:
    """Whether `target` lies in leaf's cumulative range [sum(leaves[:leaf]), sum(leaves[:leaf + 1]))."""
    before = float(np.sum(leaves[:leaf]))
    return before - tolerance <= target <= before + leaves[leaf] + tolerance


# ----------------------------------------------------------------------------
# Examples.
# ----------------------------------------------------------------------------


def test_update_get_total_and_search_on_a_small_tree():
    tree = SumTree(5)  # Not a power of two: 3 padding leaves.
    tree.update([0, 1, 2, 3, 4], [1.0, 2.0, 0.0, 3.0, 4.0])
    assert tree.total == 10.0
    np.testing.assert_array_equal(tree.get([4, 0]), [4.0, 1.0])
    np.testing.assert_array_equal(tree.values(), [1.0, 2.0, 0.0, 3.0, 4.0])
    # Cumulative ranges: 0 [0, 1), 1 [1, 3), 2 empty, 3 [3, 6), 4 [6, 10).
    found = tree.find_prefix_sum([0.0, 0.999, 1.0, 2.5, 3.0, 5.999, 6.0, 9.999])
    np.testing.assert_array_equal(found, [0, 0, 1, 1, 3, 3, 4, 4])
    assert found.dtype == np.int64


def test_search_never_returns_empty_leaves_even_at_the_edges():
    tree = SumTree(6)
    tree.update([1, 4], [3.0, 2.0])  # Leaves 0, 2, 3, 5 and the padding are empty.
    np.testing.assert_array_equal(tree.find_prefix_sum([0.0, 3.0, tree.total]), [1, 4, 4])
    # An unguarded walk from t == total would step right into leaf 3's empty sibling subtree.
    tree = SumTree(4)
    tree.update([0], [1.0])
    np.testing.assert_array_equal(tree.find_prefix_sum([1.0]), [0])


def test_capacity_one_and_shapes():
    tree = SumTree(1)
    tree.update(0, 2.5)
    assert tree.total == 2.5
    np.testing.assert_array_equal(tree.find_prefix_sum([0.0, 1.0, 2.5]), [0, 0, 0])
    big = SumTree(10)
    big.update(np.arange(10).reshape(2, 5), 1.0)  # Values broadcast; any index shape.
    assert big.get(np.array([[1, 2], [3, 4]])).shape == (2, 2)
    assert big.find_prefix_sum(np.zeros((3, 1))).shape == (3, 1)


def test_duplicate_indices_in_one_update_keep_the_last_value():
    tree = SumTree(8)
    tree.update([2, 5, 2, 2, 5], [1.0, 9.0, 7.0, 3.0, 4.0])
    np.testing.assert_array_equal(tree.get([2, 5]), [3.0, 4.0])
    assert tree.total == 7.0
    assert_consistent(tree, np.array([0, 0, 3.0, 0, 0, 4.0, 0, 0]))


def test_set_all_matches_incremental_updates_bit_for_bit():
    rng = np.random.default_rng(0)
    values = rng.random(37) * 10.0 ** rng.integers(-8, 8, 37)
    incremental = SumTree(37)
    for chunk in np.array_split(rng.permutation(37), 5):
        incremental.update(chunk, values[chunk])
    rebuilt = SumTree(37)
    rebuilt.set_all(values)
    np.testing.assert_array_equal(rebuilt._nodes, incremental._nodes)


def test_a_million_leaves():
    tree = SumTree(1_000_000)
    tree.set_all(np.ones(1_000_000))
    assert tree.total == 1_000_000.0
    np.testing.assert_array_equal(tree.find_prefix_sum([0.5, 999_999.5, 1e6]), [0, 999_999, 999_999])
    tree.update([999_999], [0.0])
    assert tree.find_prefix_sum([1e6 - 1])[0] == 999_998


# ----------------------------------------------------------------------------
# Properties.
# ----------------------------------------------------------------------------

values_strategy = st.one_of(
    st.just(0.0),
    st.floats(min_value=0.0, max_value=1e6, allow_nan=False),
    st.floats(min_value=1e-12, max_value=1e-6),
)


@st.composite
def update_batches(draw):
    """A capacity and a few batched updates whose indices repeat (within and across batches)."""
    capacity = draw(st.integers(1, 70))
    batches = draw(st.lists(
        st.lists(st.tuples(st.integers(0, capacity - 1), values_strategy), min_size=0, max_size=3 * capacity),
        min_size=1, max_size=6))
    return capacity, batches


@PROPERTY_SETTINGS
@given(update_batches())
def test_sums_stay_consistent_under_batched_updates_with_duplicates(case):
    capacity, batches = case
    tree = SumTree(capacity)
    expected = np.zeros(capacity)
    for batch in batches:
        indices = np.array([i for i, _ in batch], dtype=np.int64)
        values = np.array([v for _, v in batch], dtype=np.float64)
        tree.update(indices, values)
        for i, v in batch:  # The model: single updates in order, so the last duplicate wins.
            expected[i] = v
        assert_consistent(tree, expected)
    rebuilt = SumTree(capacity)
    rebuilt.set_all(expected)
    np.testing.assert_array_equal(rebuilt._nodes, tree._nodes)  # Sums depend on the leaves alone.


@PROPERTY_SETTINGS
@given(st.lists(st.integers(0, 50), min_size=1, max_size=80).filter(any), st.data())
def test_search_finds_the_leaf_whose_range_holds_the_target_exactly(integers, data):
    # Integer leaves: every partial sum is exact, so the answer is unambiguous, boundaries included.
    leaves = np.array(integers, dtype=np.float64)
    tree = SumTree(len(leaves))
    tree.set_all(leaves)
    cumulative = np.cumsum(leaves)
    targets = np.array(data.draw(st.lists(
        st.one_of(st.floats(0.0, cumulative[-1], exclude_max=True),
                  st.sampled_from(np.concatenate([[0.0], cumulative[:-1]]).tolist())),
        min_size=1, max_size=40)))
    targets = targets[targets < cumulative[-1]]
    expected = np.searchsorted(cumulative, targets, side="right")  # First leaf whose end passes the target.
    np.testing.assert_array_equal(tree.find_prefix_sum(targets), expected)


@PROPERTY_SETTINGS
@given(st.lists(values_strategy, min_size=1, max_size=80).filter(lambda v: sum(v) > 0),
       st.lists(st.floats(0.0, 1.0), min_size=1, max_size=40))
def test_search_with_arbitrary_floats_lands_in_range_on_a_positive_leaf(values, fractions):
    leaves = np.array(values)
    tree = SumTree(len(leaves))
    tree.update(np.arange(len(leaves)), leaves)
    targets = np.minimum(np.array(fractions) * tree.total, tree.total)
    found = tree.find_prefix_sum(targets)
    tolerance = 1e-9 * tree.total
    assert (leaves[found] > 0).all()
    for leaf, target in zip(found, targets):
        assert cumulative_range_contains(leaves, int(leaf), float(target), tolerance)


# ----------------------------------------------------------------------------
# Errors.
# ----------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [-1.0, np.nan, np.inf])
def test_bad_values_are_rejected_and_nothing_changes(bad):
    tree = SumTree(4)
    tree.update([0, 1], [1.0, 1.0])
    with pytest.raises(ValueError, match=r"finite and >= 0, got 1 that are not \(e\.g\. (-1\.0|nan|inf)\)"):
        tree.update([0, 1], [5.0, bad])
    assert tree.total == 2.0


def test_out_of_range_indices_are_rejected_naming_range_and_culprit():
    tree = SumTree(5)
    with pytest.raises(ValueError, match=r"update: expected indices in \[0, 5\), got 2 outside \(e\.g\. 7\)"):
        tree.update([1, 7, -1], [1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match=r"get: expected indices in \[0, 5\), got 1 outside \(e\.g\. 5\)"):
        tree.get([5])
    assert tree.total == 0.0


def test_non_integer_indices_are_rejected():
    with pytest.raises(ValueError, match="expected integer indices.*got dtype float64"):
        SumTree(5).update(np.array([1.0]), [1.0])


def test_mismatched_values_shape_is_rejected():
    with pytest.raises(ValueError, match=r"values of shape \(2,\) do not match indices of shape \(3,\)"):
        SumTree(5).update([0, 1, 2], [1.0, 2.0])


def test_search_errors():
    tree = SumTree(3)
    with pytest.raises(ValueError, match="empty"):
        tree.find_prefix_sum([0.0])
    tree.update([0], [2.0])
    with pytest.raises(ValueError, match=r"targets must lie in \[0, total=2\.0\], got 2 outside \(e\.g\. -0\.5\)"):
        tree.find_prefix_sum([-0.5, 1.0, 2.5])
    with pytest.raises(ValueError, match="got 1 outside"):
        tree.find_prefix_sum([np.nan])


def test_constructor_and_set_all_errors():
    with pytest.raises(ValueError, match="capacity must be a positive integer, got 0"):
        SumTree(0)
    with pytest.raises(ValueError, match=r"expected 3 values \(shape \(3,\)\), got shape \(2,\)"):
        SumTree(3).set_all([1.0, 2.0])
