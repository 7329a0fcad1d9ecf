"""Dot-product test: the adjoint Born operator is the transpose of the Born operator."""

from __future__ import annotations

import pytest

from workloads.seismic.verification import dot_test

from .conftest import NBL

# ISIC's first derivatives change stencil with the order (order 2 below space order 8): every order the
# input accepts is checked. Cross-correlation has no first derivatives; two orders suffice.
ORDERS = [("isic", so) for so in (2, 4, 6, 8, 12, 16)] + [("xcorr", 4), ("xcorr", 8)]


@pytest.mark.parametrize(("imaging", "space_order"), ORDERS, ids=[f"{i}-so{so}" for i, so in ORDERS])
def test_born_and_adjoint_born_pass_the_dot_product_test(problem, imaging, space_order):
    result = dot_test(problem.background, problem.shot, imaging=imaging, space_order=space_order, nbl=NBL)
    assert result.born_max > 0 and result.adjoint_max > 0
    assert result.relative_error < 1e-4, (result.lhs, result.rhs)
