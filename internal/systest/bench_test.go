package systest

import (
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"tether/internal/testenv"
)

// pages are the customer pages measured: Tether's own page first (the
// baseline) when it is built, then the W3C page's variants.
func pages() []string {
	all := variants
	if ownPageDir() != "" {
		all = append([]string{ownPage}, variants...)
	}
	// TETHER_W3C_PAGES=at-once,late narrows a long run to the pages under
	// study.
	if only := os.Getenv("TETHER_W3C_PAGES"); only != "" {
		var some []string
		for _, p := range all {
			if slices.Contains(strings.Split(only, ","), p) {
				some = append(some, p)
			}
		}
		return some
	}
	return all
}

// BenchmarkW3CCustomerChange runs b.N customer changes per page against
// the real tetherd through the reference server and reports, per page,
// the median and p95 of room:join at the server → first decoded frame in
// Chromium, the failures, and the median as a ratio of Tether's own page
// measured in the same run:
//
//	go test -run '^$' -bench W3CCustomerChange -benchtime 200x -timeout 60m ./internal/systest
func BenchmarkW3CCustomerChange(b *testing.B) {
	w := newWorld(b)
	w.waitInRoom(0, counterA)
	var base time.Duration
	for _, v := range pages() {
		b.Run(v, func(b *testing.B) {
			r := w.runChanges(b, v, b.N)
			med := testenv.Median(r.lat)
			b.ReportMetric(float64(med)/float64(time.Millisecond), "median-ms")
			b.ReportMetric(float64(testenv.Percentile(r.lat, 0.95))/float64(time.Millisecond), "p95-ms")
			b.ReportMetric(float64(len(r.failures)), "failures")
			b.ReportMetric(0, "ns/op")
			switch {
			case v == ownPage:
				base = med
			case base > 0 && len(r.lat) > 0:
				b.ReportMetric(float64(med)/float64(base), "median-vs-own-page")
			}
			if b.N > 1 {
				b.Logf("%s", r)
			}
		})
	}
}
