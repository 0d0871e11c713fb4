package testenv

import (
	"cmp"
	"slices"
)

// Percentile returns the p-quantile (0 ≤ p ≤ 1) of v by the nearest rank
// of a sorted copy; the zero value for an empty v.
func Percentile[T cmp.Ordered](v []T, p float64) T {
	var zero T
	if len(v) == 0 {
		return zero
	}
	s := slices.Clone(v)
	slices.Sort(s)
	return s[int(p*float64(len(s)-1)+0.5)]
}

// Median is Percentile(v, 0.5).
func Median[T cmp.Ordered](v []T) T { return Percentile(v, 0.5) }
